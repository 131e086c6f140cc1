/**
 * The TLS origination files of every cluster the config serves (DestinationRule `MUTUAL`
 * clientCertificate/privateKey, an explicit caCertificates or caCrl) must be readable PEM
 * before a config is accepted: `validate` fails,
 * `run` does not start and a reload is rejected (PC4001), instead of the first request to the
 * cluster failing. Every DestinationRule setting is checked, at its own field: the top-level
 * `tls`, `portLevelSettings`, subsets, and rules no route uses yet. Files that came with a
 * credentialName and may be absent (`ca.crt`, `ca.crl`) are checked only when present. Runs
 * after compile, as the server TLS checks do.
 */
import { existsSync, readFileSync } from 'node:fs'
import { CODES, type Diagnostic } from '../diag/index.js'
import type * as ir from '../ir/index.js'

const PEM = {
  certificate: /-----BEGIN CERTIFICATE-----/,
  key: /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/,
  crl: /-----BEGIN X509 CRL-----/,
} as const

type FileCheck = [string | undefined, keyof typeof PEM, string, boolean]

function filesOf(tls: ir.UpstreamTlsPolicy): FileCheck[] {
  return [
    [tls.certFile, 'certificate', 'clientCertificate', false],
    [tls.keyFile, 'key', 'privateKey', false],
    [tls.caFile, 'certificate', 'caCertificates', tls.caOptional === true],
    [tls.crlFile, 'crl', 'caCrl', tls.crlOptional === true],
  ]
}

/** Each file's problem, or nothing when every file `tls` names reads as the PEM it should be. */
function problemsOf(tls: ir.UpstreamTlsPolicy): { file: string; field: string; problem: string }[] {
  const out: { file: string; field: string; problem: string }[] = []
  for (const [file, kind, field, optional] of filesOf(tls)) {
    if (file === undefined || (optional && !existsSync(file))) continue
    const problem = pemProblem(file, kind)
    if (problem !== undefined) out.push({ file, field, problem })
  }
  return out
}

/**
 * `rules`: every DestinationRule tls setting (reported at its field, used by a route or not);
 * `clusters`: what the config serves, for files no rule setting named (ISTIO_MUTUAL's).
 */
export function checkUpstreamTlsFiles(
  clusters: readonly ir.Cluster[],
  rules: readonly ir.UpstreamTlsAssets[] = [],
): Diagnostic[] {
  const out: Diagnostic[] = []
  const reported = new Set<string>()
  for (const { host, policy, origin } of rules) {
    for (const { file, field, problem } of problemsOf(policy)) {
      reported.add(file)
      out.push({
        code: 'PC4001',
        severity: CODES.PC4001.severity,
        message: `DestinationRule tls ${policy.mode} ${field} ${file} ${problem}, so no connection to ${host} could be made with it`,
        resource: origin.resource,
        path: origin.path,
        loc: { file: origin.file, line: origin.line, col: origin.col },
      })
    }
  }
  const seen = new Set<string>()
  for (const cluster of clusters) {
    const tls = cluster.policy?.tls
    if (tls === undefined) continue
    for (const { file, field, problem } of problemsOf(tls)) {
      const key = `${cluster.id}\0${file}`
      if (reported.has(file) || seen.has(key)) continue
      seen.add(key)
      const s = cluster.source
      out.push({
        code: 'PC4001',
        severity: CODES.PC4001.severity,
        message: `cluster ${cluster.id}: DestinationRule tls ${tls.mode} ${field} ${file} ${problem}, so no connection to this destination could be made`,
        resource: { kind: s.kind, namespace: s.namespace, name: s.name },
        path: s.path,
        loc: { file: s.file, line: s.line, col: 1 },
      })
    }
  }
  return out
}

function pemProblem(file: string, kind: keyof typeof PEM): string | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    return `cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`
  }
  return PEM[kind].test(text) ? undefined : `is not a PEM ${kind === 'crl' ? 'CRL' : kind}`
}
