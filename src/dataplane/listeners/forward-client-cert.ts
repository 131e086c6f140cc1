/**
 * x-forwarded-client-cert (XFCC) as Envoy's forward_client_cert_details sets it, configured as
 * Istio's ProxyConfig gatewayTopology.forwardClientCertDetails. Applied on every listener kind
 * (plain HTTP, terminated TLS, HTTP/2, WebSocket upgrades, the outbound proxy) before the request
 * path copies the client's headers upstream: the header tells upstreams who the client proved to
 * be, so a client must never be able to write it unless the operator trusts what is in front.
 *
 * Envoy's rules (source/common/http/conn_manager_utility.cc, mutateXfccRequestHeader):
 * - ALWAYS_FORWARD_ONLY: the client's header goes upstream unchanged, on any connection.
 * - SANITIZE, or a connection without a verified client certificate: the header is removed.
 * - FORWARD_ONLY (mTLS): the client's header goes upstream unchanged.
 * - APPEND_FORWARD (mTLS): this hop's description is appended to the client's (`,`-separated).
 * - SANITIZE_SET (mTLS): the client's header is replaced by this hop's description.
 */
import type * as ir from '../../ir/index.js'

export const XFCC = 'x-forwarded-client-cert'

/** The parts of a request head rewritten here (IncomingMessage and Http2ServerRequest alike). */
export interface ClientCertHead {
  readonly headers: Record<string, string | string[] | undefined>
  readonly rawHeaders: string[]
}

/**
 * `verified` describes the certificate the client presented and that verified (Hash, Subject,
 * URI, DNS); undefined when the connection is not mutual TLS.
 */
export function applyForwardClientCert(
  req: ClientCertHead,
  mode: ir.ForwardClientCertDetails,
  verified: string | undefined,
): void {
  if (mode === 'ALWAYS_FORWARD_ONLY') return
  if (mode === 'SANITIZE' || verified === undefined) {
    // The common case on plain HTTP: one property lookup when the client sent none.
    if (req.headers[XFCC] !== undefined) removeClientValues(req)
    return
  }
  if (mode === 'FORWARD_ONLY') return
  const value = mode === 'APPEND_FORWARD' ? appendTo(clientValues(req), verified) : verified
  removeClientValues(req)
  req.headers[XFCC] = value
  req.rawHeaders.push(XFCC, value)
}

/** Every XFCC field the client sent, in order (a header may be split over several lines). */
function clientValues(req: ClientCertHead): string[] {
  const out: string[] = []
  const raw = req.rawHeaders
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === XFCC) out.push(raw[i + 1]!)
  }
  return out
}

function appendTo(values: readonly string[], element: string): string {
  const kept = values.map((v) => v.trim()).filter((v) => v !== '')
  return kept.length === 0 ? element : `${kept.join(',')},${element}`
}

function removeClientValues(req: ClientCertHead): void {
  Reflect.deleteProperty(req.headers, XFCC)
  const raw = req.rawHeaders
  for (let i = raw.length - 2; i >= 0; i -= 2) {
    if (raw[i]!.toLowerCase() === XFCC) raw.splice(i, 2)
  }
}
