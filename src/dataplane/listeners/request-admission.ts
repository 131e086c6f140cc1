/**
 * Request admission, the same for every arrival mode (an HTTP/1.1 request, an Upgrade, an HTTP/2
 * stream): a client certificate the server refuses → 403; the protocol's request guard (target
 * form, normalization, header syntax and sizes); a Host outside the servers the SNI chose → 421
 * (hardening.md §3.3: a certificate for several names must not open the other servers' routes);
 * then x-forwarded-client-cert per forwardClientCertDetails, before the request path copies the
 * client's headers.
 */
import type { IncomingMessage } from 'node:http'
import { normalizeHost } from '../../lib/index.js'
import { applyForwardClientCert } from './forward-client-cert.js'
import type { AcceptedConnection, ServeView } from './front-types.js'
import type { Rejection } from './rejections.js'
import { DROP_UNDERSCORE_HEADERS, dropUnderscoreHeaders, inspectRequest } from './request-guard.js'

const MISDIRECTED: Rejection = Object.freeze({ status: 421, details: 'misdirected_request' })

/**
 * Admits one request, or says what refuses it. `guard` is the protocol's own check (HTTP/1.1:
 * `http1Guard`; HTTP/2: the stream adapter, which also sets Host from :authority), called with
 * `view` and `req` so HTTP/1.1 passes `http1Guard` itself instead of a closure per request.
 * `accepted` is undefined on plain HTTP, which is never mutual TLS and has no SNI to disagree with.
 */
export function admitRequest<P>(
  view: ServeView<P>,
  accepted: AcceptedConnection | undefined,
  req: IncomingMessage,
  guard: (view: ServeView<P>, req: IncomingMessage) => Rejection | undefined,
): Rejection | undefined {
  if (accepted?.forbidden !== undefined) return { status: 403, details: accepted.forbidden }
  const refused =
    guard(view, req) ?? (accepted !== undefined ? misdirected(accepted, req) : undefined)
  if (refused !== undefined) return refused
  applyForwardClientCert(req, view.forwardClientCert, accepted?.clientCert)
  return undefined
}

/** The HTTP/1.1 request guard; headers with underscores are dropped when the guard says so. */
export function http1Guard<P>(view: ServeView<P>, req: IncomingMessage): Rejection | undefined {
  const verdict = inspectRequest(req, view.guard)
  if (verdict === DROP_UNDERSCORE_HEADERS) {
    dropUnderscoreHeaders(req)
    return undefined
  }
  return verdict
}

function misdirected(accepted: AcceptedConnection, req: IncomingMessage): Rejection | undefined {
  const host = normalizeHost(req.headers.host ?? '')
  return host !== undefined && !hostCovered(accepted.serverHosts, host) ? MISDIRECTED : undefined
}

function hostCovered(patterns: readonly string[], host: string): boolean {
  for (const p of patterns) {
    if (p === '*' || p === host) return true
    if (p.charCodeAt(0) === 42 /* '*' */ && host.length > p.length - 1 && host.endsWith(p.slice(1)))
      return true
  }
  return false
}
