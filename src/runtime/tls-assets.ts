/**
 * Reads the certificate files a compiled config names and reports what would make the TLS
 * listener fail or misbehave, at the field that named the file (PC4001–PC4004). Runs after
 * compile (which does no I/O) for `run`, reloads and `validate` alike, so `validate` finds a
 * missing key before a deploy does.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { CODES, sortDiagnostics, type DiagCode, type Diagnostic } from '../diag/index.js'
import type * as ir from '../ir/index.js'

/** `now`: milliseconds since the epoch (validity is judged against it). */
export function checkTlsAssets(
  servers: readonly ir.ServerTlsAssets[],
  now: number = Date.now(),
): Diagnostic[] {
  const out: Diagnostic[] = []
  const seen = new Set<string>()
  const report = (code: DiagCode, at: ir.AssetFile, message: string): void => {
    const o = at.origin
    const key = `${code}\0${o.file}:${o.line}:${o.col}\0${message}`
    if (seen.has(key)) return
    seen.add(key)
    out.push({
      code,
      severity: CODES[code].severity,
      message,
      resource: o.resource,
      path: o.path,
      loc: { file: o.file, line: o.line, col: o.col },
    })
  }
  for (const server of servers) {
    for (const pair of server.certificates) {
      const cert = readCertificate(pair.cert, report)
      const key = readKey(pair.key, report)
      if (cert === undefined) continue
      if (key !== undefined && !cert.checkPrivateKey(key)) {
        report(
          'PC4002',
          pair.key,
          `${pair.key.file} is not the private key of the certificate in ${pair.cert.file}`,
        )
      }
      checkValidity(cert, pair.cert, now, report)
      for (const host of server.hosts) {
        if (!covers(cert, host)) {
          report(
            'PC4003',
            pair.cert,
            `${pair.cert.file} (${describeNames(cert)}) does not cover host "${host}" of server ${server.server}`,
          )
        }
      }
    }
    if (server.ca !== undefined) {
      const ca = readCertificate(server.ca, report)
      if (ca !== undefined) checkValidity(ca, server.ca, now, report)
    }
    const crl = server.crl
    if (crl !== undefined) {
      const text = readText(crl, report, crl.optional)
      if (text !== undefined && !text.includes('-----BEGIN X509 CRL-----')) {
        report('PC4001', crl, `${crl.file}: not a PEM certificate revocation list`)
      }
    }
  }
  return sortDiagnostics(out)
}

type Report = (code: DiagCode, at: ir.AssetFile, message: string) => void

function readText(at: ir.AssetFile, report: Report, optional = false): string | undefined {
  try {
    return readFileSync(at.file, 'latin1')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (optional && code === 'ENOENT') return undefined
    const why = code === 'ENOENT' ? 'no such file' : (code ?? String(err))
    report('PC4001', at, `${at.file} cannot be read: ${why}`)
    return undefined
  }
}

function readCertificate(at: ir.AssetFile, report: Report): X509Certificate | undefined {
  const text = readText(at, report)
  if (text === undefined) return undefined
  try {
    return new X509Certificate(text)
  } catch {
    report('PC4001', at, `${at.file} is not a PEM certificate`)
    return undefined
  }
}

function readKey(at: ir.AssetFile, report: Report): KeyObject | undefined {
  const text = readText(at, report)
  if (text === undefined) return undefined
  try {
    return createPrivateKey(text)
  } catch {
    report('PC4001', at, `${at.file} is not a PEM private key`)
    return undefined
  }
}

function checkValidity(cert: X509Certificate, at: ir.AssetFile, now: number, report: Report): void {
  const from = Date.parse(cert.validFrom)
  const to = Date.parse(cert.validTo)
  if (to < now) report('PC4004', at, `${at.file} expired on ${new Date(to).toISOString()}`)
  else if (from > now) {
    report('PC4004', at, `${at.file} is not valid before ${new Date(from).toISOString()}`)
  }
}

/**
 * `*` needs nothing; `*.example.com` is covered by a certificate for `*.example.com` (checked
 * with a name one label below it, which only that wildcard or an exact name can match).
 */
function covers(cert: X509Certificate, host: string): boolean {
  if (host === '*') return true
  const name = host.startsWith('*.') ? `portcullis-check${host.slice(1)}` : host
  return cert.checkHost(name, { subject: 'default' }) !== undefined
}

function describeNames(cert: X509Certificate): string {
  return cert.subjectAltName ?? cert.subject.replaceAll('\n', ', ')
}
