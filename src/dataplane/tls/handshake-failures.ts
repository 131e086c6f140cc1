/**
 * Failed downstream TLS handshakes and refused client certificates, in words an operator and a
 * metric label can use: `no_client_cert`, `unknown_ca`, `cert_expired`, … (Envoy counts the
 * same as ssl.fail_verify_no_cert / fail_verify_error / connection_error). Each is counted and
 * logged with the SNI, the reason and the client certificate's subject when there is one; the
 * log is rate-bounded per reason so a scan of bad clients cannot flood it.
 */
import type { TLSSocket } from 'node:tls'
import type { Logger } from '../../lib/index.js'
import type { ConnectionObserver } from '../../observe/events.js'
import { createLogBudget } from '../listeners/index.js'

/** OpenSSL verification results (X509_V_ERR_*, as Node names them) → reason. */
const VERIFY_REASONS: ReadonlyMap<string, string> = new Map([
  ['CERT_HAS_EXPIRED', 'cert_expired'],
  ['CERT_NOT_YET_VALID', 'cert_not_yet_valid'],
  ['CERT_REVOKED', 'cert_revoked'],
  ['UNABLE_TO_GET_CRL', 'crl_missing'],
  ['CRL_HAS_EXPIRED', 'crl_expired'],
  ['INVALID_PURPOSE', 'bad_purpose'],
  ['UNABLE_TO_GET_ISSUER_CERT', 'unknown_ca'],
  ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unknown_ca'],
  ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unknown_ca'],
  ['SELF_SIGNED_CERT_IN_CHAIN', 'unknown_ca'],
  ['DEPTH_ZERO_SELF_SIGNED_CERT', 'unknown_ca'],
  ['CERT_UNTRUSTED', 'unknown_ca'],
])

/** Node's codes for errors during the handshake → reason. */
const HANDSHAKE_REASONS: ReadonlyMap<string, string> = new Map([
  ['ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', 'no_client_cert'],
  ['ERR_SSL_NO_SHARED_CIPHER', 'no_shared_cipher'],
  ['ERR_SSL_UNSUPPORTED_PROTOCOL', 'unsupported_protocol'],
  ['ERR_SSL_NO_PROTOCOLS_AVAILABLE', 'unsupported_protocol'],
  ['ERR_SSL_WRONG_VERSION_NUMBER', 'unsupported_protocol'],
  ['ERR_SSL_NO_APPLICATION_PROTOCOL', 'no_application_protocol'],
  ['ECONNRESET', 'peer_closed'],
  ['EPIPE', 'peer_closed'],
  ['ERR_STREAM_PREMATURE_CLOSE', 'peer_closed'],
])

/** The reason for a client certificate OpenSSL did not verify (socket.authorizationError). */
export function verifyFailureReason(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code
  return (typeof code === 'string' ? VERIFY_REASONS.get(code) : undefined) ?? 'cert_invalid'
}

/** The reason for an 'error' a TLS socket emitted before its handshake finished. */
export function handshakeErrorReason(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return 'handshake_error'
  return (
    HANDSHAKE_REASONS.get(code) ??
    (code.startsWith('ERR_SSL') ? 'tls_protocol_error' : 'handshake_error')
  )
}

export interface HandshakeFailure {
  readonly listener: string
  readonly reason: string
  /** SNI the client sent (undefined: none). */
  readonly sni: string | undefined
  /** The socket, for the client's address and certificate (when it sent one). */
  readonly socket?: TLSSocket
  readonly client: string
  /** OpenSSL's own words (the error message or verification code). */
  readonly detail?: string
}

export interface HandshakeFailureReporter {
  report(failure: HandshakeFailure): void
}

export function createHandshakeFailureReporter(
  log: Logger,
  observer: ConnectionObserver | undefined,
): HandshakeFailureReporter {
  const budget = createLogBudget()
  return {
    report(f) {
      try {
        observer?.onTlsHandshakeFailure(f.listener, f.reason)
        const { allowed, suppressed } = budget.take(f.reason)
        if (!allowed) return
        const peer = f.socket?.getPeerX509Certificate()
        log.warn('TLS handshake failed', {
          listener: f.listener,
          sni: f.sni ?? '-',
          reason: f.reason,
          client: f.client,
          ...(peer !== undefined
            ? { subject: oneLine(peer.subject), issuer: oneLine(peer.issuer) }
            : {}),
          ...(f.detail !== undefined ? { detail: f.detail } : {}),
          ...(suppressed > 0 ? { suppressed } : {}),
        })
      } catch {
        // A certificate that cannot be described, a metrics failure: still a closed connection.
      }
    },
  }
}

/** `C=x\nO=y\nCN=z` (Node's layout) → `CN=z,O=y,C=x`, as Envoy and XFCC write subjects. */
function oneLine(name: string): string {
  // An empty subject (Istio's workload certificates) is undefined at runtime, whatever the type says.
  return ((name as string | undefined) ?? '').split('\n').reverse().join(',')
}
