/**
 * HTTP/2 requests (ALPN `h2` on terminated TLS) enter the same request path as HTTP/1.1 through
 * node:http2's compatibility API. What differs is checked and evened out here, once, before
 * routing: the authority arrives as `:authority` (RFC 9113 §8.3.1), pseudo-headers must never be
 * forwarded, and nghttp2 has already refused connection-specific headers, bad framing and
 * malformed pseudo-headers (hardening.md §2.4). `:path` and the authority then get the very check
 * a request line and Host get (request-target.ts), normalization included.
 */
import type { Http2ServerRequest } from 'node:http2'
import type { Rejection } from './rejections.js'
import { REJECT } from './rejections.js'
import type { GuardSettings } from './request-guard.js'
import { admitRequestTarget } from './request-target.js'

export const H2_REJECT = Object.freeze({
  authorityHostMismatch: Object.freeze({ status: 400, details: 'http2.authority_host_mismatch' }),
  missingAuthority: Object.freeze({ status: 400, details: 'http2.missing_authority' }),
  connectNotAllowed: Object.freeze({ status: 405, details: 'http2.connect_not_allowed' }),
  underscore: REJECT.underscore,
  tooManyHeaders: Object.freeze({ status: 431, details: 'http2.too_many_headers' }),
  headersTooLarge: Object.freeze({ status: 431, details: 'http2.headers_too_large' }),
}) satisfies Record<string, Rejection>

/**
 * Checks `req` and rewrites its headers into the shape the request path reads (a `host` header,
 * no pseudo-headers in rawHeaders, the normalized `:path`). Returns the rejection, or undefined
 * to serve it.
 */
export function adaptH2Request(
  req: Http2ServerRequest,
  guard: GuardSettings,
): Rejection | undefined {
  const headers = req.headers
  const raw = req.rawHeaders
  if (req.method === 'CONNECT') return H2_REJECT.connectNotAllowed
  const authority = headers[':authority']
  const host = headers.host
  if (
    authority !== undefined &&
    host !== undefined &&
    authority.toLowerCase() !== host.toLowerCase()
  ) {
    // Never route on one and forward the other.
    return H2_REJECT.authorityHostMismatch
  }
  const effective = authority ?? host
  if (effective === undefined || effective === '') return H2_REJECT.missingAuthority
  // rawHeaders is the array the request keeps (a getter over it): pruned in place.
  let fields = 0
  let fieldBytes = 0
  let hasUnderscore = false
  let w = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    if (name.charCodeAt(0) === 58 /* ':' */) continue
    fields++
    // Counted as HTTP/1.1 counts `name: value\r\n`, so one limit means the same on both. (Node
    // only advertises SETTINGS_MAX_HEADER_LIST_SIZE; it does not enforce it.)
    fieldBytes += name.length + raw[i + 1]!.length + 4
    if (name.includes('_')) {
      hasUnderscore = true
      if (guard.headersWithUnderscores === 'DROP') {
        Reflect.deleteProperty(headers, name)
        continue
      }
    }
    raw[w++] = name
    raw[w++] = raw[i + 1]!
  }
  raw.length = w
  if (fields > guard.maxHeaderCount) return H2_REJECT.tooManyHeaders
  if (fieldBytes > guard.maxHeaderBytes) return H2_REJECT.headersTooLarge
  const path = req.url
  const target = admitRequestTarget(req.method, path, effective, guard)
  if (typeof target !== 'string') return target
  // The compatibility request reads url from `:path`: one assignment and every later stage,
  // the access log included, sees the normalized path.
  if (target !== path) req.url = target
  if (hasUnderscore && guard.headersWithUnderscores === 'REJECT') return H2_REJECT.underscore
  if (host === undefined) {
    headers.host = effective
    raw.push('host', effective)
  }
  // HTTP/2 frames the body itself: a body without content-length is announced to the request
  // path the way HTTP/1.1 would (never forwarded: transfer-encoding is hop-by-hop, and rawHeaders
  // is what goes upstream).
  if (!req.stream.endAfterHeaders && headers['content-length'] === undefined) {
    headers['transfer-encoding'] = 'chunked'
  }
  return undefined
}
