import type { OutgoingHttpHeaders } from 'node:http'
import type { RequestContext } from './context.js'
import { RESPONSE_HEADERS_NOT_FORWARDED } from './hop-by-hop.js'
import type { HeaderList } from './response-headers.js'

const GRPC_TRAILERS = 'grpc-status, grpc-message'

/**
 * A gRPC response proxied to an HTTP/1.1 client ends with its status in trailers; announcing
 * them (`Trailer`, RFC 9110 §6.6.2) tells the client to read them. Only a chunked response can
 * carry trailers, so a response with a content-length is left alone.
 */
export function announceGrpcTrailers(ctx: RequestContext, headers: HeaderList): void {
  if (ctx.req.httpVersionMajor === 2 || ctx.method === 'HEAD') return
  let isGrpc = false
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i]!
    if (name === 'content-length' || name === 'trailer') return
    if (name === 'content-type' && headers[i + 1]!.startsWith('application/grpc')) isGrpc = true
  }
  if (isGrpc) headers.push('trailer', GRPC_TRAILERS)
}

/**
 * Passes the upstream's trailers on: as chunked trailers to an HTTP/1.1 client (node drops them
 * when the response is not chunked), as a trailing HEADERS frame to an HTTP/2 client.
 */
export function sendTrailers(ctx: RequestContext, raw: readonly (Buffer | string)[]): void {
  const out: OutgoingHttpHeaders = {}
  let count = 0
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1').toLowerCase()
    if (name.charCodeAt(0) === 58 /* ':' */ || RESPONSE_HEADERS_NOT_FORWARDED.has(name)) continue
    const value = raw[i + 1]!.toString('latin1')
    if (name === 'grpc-status') ctx.grpcStatus = value
    const prev = out[name]
    if (prev === undefined) out[name] = value
    else out[name] = `${String(prev)}, ${value}`
    count++
  }
  if (count > 0) ctx.res.addTrailers(out)
}
