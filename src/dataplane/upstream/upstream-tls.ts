import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { checkServerIdentity } from 'node:tls'
import type { ConnectionOptions, PeerCertificate } from 'node:tls'
import type * as ir from '../../ir/index.js'
import type { buildConnector } from 'undici'
import { splitCrls } from '../../lib/index.js'

/**
 * TLS origination to one cluster's endpoints (DestinationRule `tls`), loaded once when the
 * cluster runtime is created: the files are read then, so a missing or unreadable one rejects the
 * reload that introduced it. Without caCertificates, Node's default trust store verifies the
 * upstream (its bundled Mozilla roots, plus NODE_EXTRA_CA_CERTS).
 */
export interface UpstreamTls {
  /** Distinguishes pools: equal policies and equal file contents share connections. */
  readonly key: string
  /** SNI sent on every connection; undefined for an IP (SNI carries names only). */
  readonly servername: string | undefined
  /** Options for tls.connect (through undici's connector). */
  readonly connect: ConnectionOptions
  /** ALPN for HTTP/2 sessions; absent: `h2`. */
  readonly h2Alpn?: readonly string[]
  /** A connector for HTTP/1.1 pools in place of undici's (ISTIO_MUTUAL: ALPN and rotation). */
  readonly connector?: (
    timeoutMs: number,
    keepAliveMs: number | undefined,
  ) => buildConnector.connector
}

export function loadUpstreamTls(policy: ir.UpstreamTlsPolicy): UpstreamTls {
  const hash = createHash('sha256').update(JSON.stringify(policy))
  const read = (file: string | undefined, optional: boolean): Buffer | undefined => {
    if (file === undefined || (optional && !existsSync(file))) return undefined
    const data = readFileSync(file)
    hash.update(data)
    return data
  }
  const cert = read(policy.certFile, false)
  const key = read(policy.keyFile, false)
  const ca = read(policy.caFile, policy.caOptional === true)
  const crl = read(policy.crlFile, policy.crlOptional === true)
  const sni = policy.sni
  const connect: ConnectionOptions = {
    ...(cert !== undefined ? { cert } : {}),
    ...(key !== undefined ? { key } : {}),
    ...(ca !== undefined ? { ca } : {}),
    ...(crl !== undefined ? { crl: splitCrls(crl) } : {}),
    rejectUnauthorized: !policy.insecureSkipVerify,
    checkServerIdentity: policy.insecureSkipVerify
      ? acceptAnyIdentity
      : createIdentityCheck(sni, policy.subjectAltNames),
  }
  return {
    key: hash.digest('hex').slice(0, 16),
    servername: isIP(sni) === 0 ? sni : undefined,
    connect,
  }
}

function acceptAnyIdentity(): undefined {
  return undefined
}

/**
 * With subjectAltNames, the certificate must carry one of them (DNS names by the usual wildcard
 * rules, URIs such as SPIFFE ids exactly); without, it must match the SNI.
 */
function createIdentityCheck(
  sni: string,
  sans: readonly string[],
): (host: string, cert: PeerCertificate) => Error | undefined {
  if (sans.length === 0) return (_host, cert) => checkServerIdentity(sni, cert)
  return (_host, cert) => {
    const uris = uriSans(cert)
    for (const san of sans) {
      if (san.includes('://')) {
        if (uris.includes(san)) return undefined
      } else if (checkServerIdentity(san, cert) === undefined) return undefined
    }
    const err = new Error(
      `upstream certificate SANs (${cert.subjectaltname ?? 'none'}) match none of ${sans.join(', ')}`,
    ) as Error & { code: string; reason: string }
    err.code = 'ERR_TLS_CERT_ALTNAME_INVALID'
    err.reason = 'SAN mismatch'
    return err
  }
}

export function uriSans(cert: PeerCertificate): string[] {
  const out: string[] = []
  for (const part of (cert.subjectaltname ?? '').split(', ')) {
    if (part.startsWith('URI:')) out.push(part.slice(4))
  }
  return out
}

/** Error codes of a failed TLS handshake or verification: the connection never carried a request. */
export function tlsFailureCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return undefined
  if (
    code.startsWith('ERR_SSL_') ||
    code.startsWith('ERR_TLS_') ||
    code.includes('CERT') ||
    code.startsWith('UNABLE_TO_') ||
    code === 'EPROTO'
  ) {
    return code
  }
  return undefined
}
