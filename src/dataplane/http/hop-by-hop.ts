/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) and the headers the gateway owns. None of them is passed
 * on as received: hop-by-hop ones describe one connection, and ours are rewritten by us.
 */

/** Never forwarded upstream as the client sent them. */
export const REQUEST_HEADERS_NOT_FORWARDED: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'expect',
  // Set by the gateway (Host from the route's authority, the rest from the connection).
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-request-id',
])

/** Never passed downstream as the upstream sent them. */
export const RESPONSE_HEADERS_NOT_FORWARDED: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  // Connection-specific as well; an HTTP/2 response must not carry it (RFC 9113 §8.2.2).
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
])

/**
 * Headers a `Connection` header must not be able to remove: framing and the forwarding headers
 * upstreams rely on for the client's identity (a client could otherwise strip what a trusted
 * proxy in front of us appended).
 */
const NOT_NOMINATABLE: ReadonlySet<string> = new Set([
  'host',
  'content-length',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-client-cert',
  'x-request-id',
])

/** `Proxy-*` headers (Proxy-Authorization, Proxy-Connection, ...) are hop-by-hop too. */
export function isProxyHeader(lowerName: string): boolean {
  return lowerName.startsWith('proxy-')
}

/** Names listed in Connection header values, lower case; undefined when there are none. */
export function nominatedHeaders(values: readonly string[]): Set<string> | undefined {
  // The common values name no header; skip the parsing for them.
  if (values.length === 1 && isPlainConnectionValue(values[0]!)) return undefined
  let out: Set<string> | undefined
  for (const value of values) {
    for (const token of value.split(',')) {
      const name = token.trim().toLowerCase()
      if (name === '' || name === 'close' || name === 'keep-alive') continue
      if (NOT_NOMINATABLE.has(name)) continue
      ;(out ??= new Set()).add(name)
    }
  }
  return out
}

function isPlainConnectionValue(v: string): boolean {
  return v === 'keep-alive' || v === 'close' || v === 'Keep-Alive' || v === 'Close'
}
