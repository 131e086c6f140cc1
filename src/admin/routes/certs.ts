/**
 * GET /certs: every certificate the active snapshot uses (server certificates, client CAs,
 * upstream client certificates and CAs) with its subject, issuer, SANs, serial, validity and
 * days until expiry, read from the files now (so a renewed file shows at once), then each ACME
 * Certificate's state (issuer, names, notAfter, next renewal, last error). Text by default;
 * `?format=json` has Envoy's `certificates[].cert_chain[] / ca_cert[]` shape, plus `acme[]`.
 */
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { FastifyInstance } from 'fastify'
import type * as ir from '../../ir/index.js'
import type { AcmeCertificateView, RuntimeView } from '../../runtime/index.js'
import { sendText, wantsJson } from './envoy-format.js'

const DAY_MS = 86_400_000

interface CertUse {
  readonly path: string
  readonly kind: 'cert_chain' | 'ca_cert'
  /** Where the snapshot uses it: a listener chain, or a cluster. */
  readonly usedBy: string
}

interface CertInfo {
  readonly path: string
  readonly serial_number: string
  readonly subject: string
  readonly issuer: string
  readonly subject_alt_names: readonly Record<string, string>[]
  readonly valid_from: string
  readonly expiration_time: string
  readonly days_until_expiration: number
}

export function registerCerts(app: FastifyInstance, runtime: RuntimeView): void {
  app.get('/certs', async (req, reply) => {
    const active = runtime.snapshots.active
    if (active === undefined) return reply.code(503).send({ error: 'no config is active yet' })
    const now = Date.now()
    const uses = certUses(active.snapshot)
    const certificates = groupByUser(uses).map(([usedBy, list]) => ({
      used_by: usedBy,
      cert_chain: list
        .filter((u) => u.kind === 'cert_chain')
        .flatMap((u) => readCerts(u.path, now)),
      ca_cert: list.filter((u) => u.kind === 'ca_cert').flatMap((u) => readCerts(u.path, now)),
    }))
    const acme = runtime.acmeCertificates?.() ?? []
    if (wantsJson(req)) return { certificates, ...(acme.length > 0 ? { acme } : {}) }
    const lines: string[] = acme.map(acmeLine)
    for (const c of certificates) {
      for (const [kind, infos] of [
        ['cert_chain', c.cert_chain],
        ['ca_cert', c.ca_cert],
      ] as const) {
        for (const i of infos) {
          const sans = i.subject_alt_names
            .flatMap((s) => Object.entries(s).map(([k, v]) => `${k}:${v}`))
            .join(',')
          lines.push(
            `${c.used_by}::${kind}::${i.path}::subject=${i.subject}::issuer=${i.issuer}::sans=${sans || '-'}::not_after=${i.expiration_time}::days_until_expiration=${i.days_until_expiration}`,
          )
        }
      }
    }
    return sendText(reply, lines)
  })
}

/** An ACME Certificate: issuer, names, notAfter, next renewal, and the last error if any. */
function acmeLine(c: AcmeCertificateView): string {
  const fields = [
    `acme::${c.certificate}`,
    `issuer=${c.issuer}`,
    `names=${c.dnsNames.join(',')}`,
    `state=${c.state}`,
    `serial=${c.serial?.toLowerCase() ?? '-'}`,
    `not_after=${c.notAfter ?? '-'}`,
    `renew_at=${c.renewAt ?? '-'}`,
    `next_attempt=${c.nextAttempt ?? '-'}`,
    `failures=${c.failures ?? 0}`,
    `last_error=${c.lastError ?? '-'}`,
  ]
  return fields.join('::')
}

function certUses(snapshot: ir.Snapshot): CertUse[] {
  const uses: CertUse[] = []
  for (const l of snapshot.listeners) {
    for (const c of l.chains) {
      if (c.kind !== 'tls' || c.tls === undefined) continue
      const usedBy = `${l.id}/${c.name}`
      for (const files of c.tls.certificates)
        uses.push({ path: files.certFile, kind: 'cert_chain', usedBy })
      if (c.tls.client !== undefined)
        uses.push({ path: c.tls.client.caFile, kind: 'ca_cert', usedBy })
    }
  }
  for (const cluster of Object.values(snapshot.clusters)) {
    const tls = cluster.policy?.tls
    if (tls === undefined) continue
    if (tls.certFile !== undefined)
      uses.push({ path: tls.certFile, kind: 'cert_chain', usedBy: cluster.id })
    if (tls.caFile !== undefined)
      uses.push({ path: tls.caFile, kind: 'ca_cert', usedBy: cluster.id })
  }
  return uses
}

function groupByUser(uses: readonly CertUse[]): [string, CertUse[]][] {
  const by = new Map<string, CertUse[]>()
  for (const u of uses) by.set(u.usedBy, [...(by.get(u.usedBy) ?? []), u])
  return [...by]
}

/** Every certificate in a PEM file (a chain or a CA bundle); an unreadable file yields none. */
function readCerts(path: string, now: number): CertInfo[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return []
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  return blocks.map((pem) => {
    const cert = new X509Certificate(pem)
    const notAfter = new Date(cert.validTo)
    return {
      path,
      serial_number: cert.serialNumber.toLowerCase(),
      subject: cert.subject.replaceAll('\n', ','),
      issuer: cert.issuer.replaceAll('\n', ','),
      subject_alt_names: parseSans(cert.subjectAltName),
      valid_from: new Date(cert.validFrom).toISOString(),
      expiration_time: notAfter.toISOString(),
      days_until_expiration: Math.floor((notAfter.getTime() - now) / DAY_MS),
    }
  })
}

/** `DNS:a, URI:spiffe://x, IP Address:1.2.3.4` → Envoy's `[{dns: a}, {uri: …}, {ip_address: …}]`. */
function parseSans(text: string | undefined): Record<string, string>[] {
  if (text === undefined || text === '') return []
  return text.split(', ').map((entry) => {
    const colon = entry.indexOf(':')
    const kind = entry.slice(0, colon).toLowerCase().replace(' ', '_')
    return { [kind === 'ip_address' ? 'ip_address' : kind]: entry.slice(colon + 1) }
  })
}
