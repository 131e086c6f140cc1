/**
 * ISTIO_MUTUAL origination: the mesh identity as client certificate and trust root, re-read on
 * rotation (mesh-identity.ts), a peer that must prove a SPIFFE identity in the trust domain, and
 * Istio's ALPN. undici's own connector replaces ALPN with `http/1.1` and copies its TLS options
 * once, so HTTP/1.1 pools get the connector below instead: it takes the identity in effect when
 * each connection is opened.
 */
import { createHash } from 'node:crypto'
import { isIP } from 'node:net'
import { checkServerIdentity, connect as tlsConnect } from 'node:tls'
import type { ConnectionOptions, PeerCertificate } from 'node:tls'
import type { buildConnector } from 'undici'
import { errors as undiciErrors } from './undici.js'
import type * as ir from '../../ir/index.js'
import type { Logger } from '../../lib/index.js'
import { meshIdentitySource } from './mesh-identity.js'
import type { UpstreamTls } from './upstream-tls.js'
import { uriSans } from './upstream-tls.js'

/** Istio's mtlsHTTP2ALPN: offered on ISTIO_MUTUAL connections that carry HTTP/2. */
export const ISTIO_H2_ALPN: readonly string[] = ['istio-h2', 'istio', 'h2']

export function loadMeshUpstreamTls(
  policy: ir.UpstreamTlsPolicy & { readonly mesh: NonNullable<ir.UpstreamTlsPolicy['mesh']> },
  log: Logger,
): UpstreamTls {
  const source = meshIdentitySource(
    { certFile: policy.certFile ?? '', keyFile: policy.keyFile ?? '', caFile: policy.caFile ?? '' },
    log,
  )
  const check = createMeshIdentityCheck(policy.mesh.trustDomain, policy.subjectAltNames)
  const alpn = [...policy.mesh.alpn]
  let version = 0
  let options: ConnectionOptions = {}
  const current = (): ConnectionOptions => {
    const m = source.current()
    if (m.version !== version) {
      version = m.version
      options = {
        cert: m.cert,
        key: m.key,
        ca: m.ca,
        rejectUnauthorized: true,
        checkServerIdentity: check,
        ALPNProtocols: alpn,
      }
    }
    return options
  }
  current()
  const servername = isIP(policy.sni) === 0 ? policy.sni : undefined
  const tls: UpstreamTls = {
    // The policy alone: a rotated identity keeps the pools (new connections pick it up).
    key: createHash('sha256').update(JSON.stringify(policy)).digest('hex').slice(0, 16),
    servername,
    get connect() {
      return current()
    },
    h2Alpn: ISTIO_H2_ALPN,
    connector: (timeoutMs, keepAliveMs) =>
      meshConnector(current, servername, timeoutMs, keepAliveMs),
  }
  return tls
}

/**
 * The peer must carry a `spiffe://<trustDomain>/…` URI SAN; with subjectAltNames, also one of
 * them (URIs exactly, DNS names by the usual rules). Failures carry Node's SAN-mismatch code, so
 * they are connect failures (503 UF) with the reason in the access log.
 */
export function createMeshIdentityCheck(
  trustDomain: string,
  sans: readonly string[],
): (host: string, cert: PeerCertificate) => Error | undefined {
  const prefix = `spiffe://${trustDomain}/`
  return (_host, cert) => {
    const uris = uriSans(cert)
    if (!uris.some((u) => u.startsWith(prefix))) {
      return sanError(
        `upstream certificate has no SPIFFE identity in trust domain ${trustDomain} (SANs: ${cert.subjectaltname ?? 'none'})`,
      )
    }
    if (sans.length === 0) return undefined
    for (const san of sans) {
      if (san.includes('://')) {
        if (uris.includes(san)) return undefined
      } else if (checkServerIdentity(san, cert) === undefined) return undefined
    }
    return sanError(
      `upstream certificate SANs (${cert.subjectaltname ?? 'none'}) match none of ${sans.join(', ')}`,
    )
  }
}

function sanError(message: string): Error {
  const err = new Error(message) as Error & { code: string; reason: string }
  err.code = 'ERR_TLS_CERT_ALTNAME_INVALID'
  err.reason = 'SAN mismatch'
  return err
}

function meshConnector(
  options: () => ConnectionOptions,
  servername: string | undefined,
  timeoutMs: number,
  keepAliveMs: number | undefined,
): buildConnector.connector {
  return ({ hostname, port }, callback) => {
    const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname
    const socket = tlsConnect({
      ...options(),
      host,
      port: Number(port),
      ...(servername !== undefined ? { servername } : {}),
    })
    socket.setNoDelay(true)
    socket.setKeepAlive(true, keepAliveMs ?? 60_000)
    let done = false
    const finish = (err: Error | null): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      if (err === null) callback(null, socket)
      else callback(err, null)
    }
    const timer = setTimeout(() => {
      const err = new undiciErrors.ConnectTimeoutError()
      finish(err)
      socket.destroy(err)
    }, timeoutMs)
    socket.once('secureConnect', () => finish(null)).once('error', (err: Error) => finish(err))
    return socket
  }
}
