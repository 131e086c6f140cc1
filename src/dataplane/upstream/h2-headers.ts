import type { OutgoingHttpHeaders } from 'node:http2'

/**
 * Connection-specific headers an HTTP/2 request must not carry (RFC 9113 §8.2.2); node:http2
 * refuses to send them. `te` is allowed with the value `trailers` only.
 */
const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'te',
])

/**
 * The upstream request head as node:http2 takes it: the pseudo-headers first, `host` as
 * `:authority`, connection-specific headers left out, repeated names as arrays. gRPC requests
 * get `te: trailers` (gRPC servers refuse calls without it).
 */
export function toH2RequestHeaders(
  method: string,
  path: string,
  scheme: 'http' | 'https',
  list: readonly string[],
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ':method': method, ':scheme': scheme, ':path': path }
  let isGrpc = false
  for (let i = 0; i + 1 < list.length; i += 2) {
    const name = list[i]!
    const value = list[i + 1]!
    if (name === 'host') {
      out[':authority'] = value
      continue
    }
    if (CONNECTION_SPECIFIC.has(name)) continue
    if (name === 'content-type' && value.startsWith('application/grpc')) isGrpc = true
    const prev = out[name]
    if (prev === undefined) out[name] = value
    else if (Array.isArray(prev)) prev.push(value)
    else out[name] = [String(prev), value]
  }
  if (isGrpc) out['te'] = 'trailers'
  return out
}
