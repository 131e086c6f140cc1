import type { ServerResponse } from 'node:http'
import type { HandlerEnv, RequestContext } from './context.js'
import { finishResponseHeaders } from './response-headers.js'
import type { HeaderList } from './response-headers.js'

/** Bodies of Envoy's local replies, as Istio users see them. */
export const LocalReplyBody = {
  noHealthyUpstream: 'no healthy upstream',
  connectFailure:
    'upstream connect error or disconnect/reset before headers. reset reason: connection failure',
  connectionTermination:
    'upstream connect error or disconnect/reset before headers. reset reason: connection termination',
  refusedStream:
    'upstream connect error or disconnect/reset before headers. reset reason: remote refused stream reset',
  protocolError:
    'upstream connect error or disconnect/reset before headers. reset reason: protocol error',
  timeout: 'upstream request timeout',
  overflow: 'upstream connect error or disconnect/reset before headers. reset reason: overflow',
  faultAbort: 'fault filter abort',
} as const

/**
 * Answers the request from the gateway itself. The route's (and chosen destination's) response
 * header operations still apply, as in Envoy; `server` comes last. A body gets
 * `content-type: text/plain`, which a route `set` can override.
 */
export function sendLocalReply(
  ctx: RequestContext,
  status: number,
  flag: number,
  details: string,
  body?: string | Buffer,
  location?: string,
  extra?: readonly string[],
): void {
  ctx.flags |= flag
  ctx.details = details
  const res = ctx.res
  if (ctx.closed) return
  if (res.headersSent) {
    // Too late to answer: the client must see a broken response, never a clean end.
    ctx.resetByGateway = true
    res.destroy()
    return
  }
  const length =
    body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.length
  const list: HeaderList = []
  if (location !== undefined) list.push('location', location)
  if (length > 0) list.push('content-type', 'text/plain')
  list.push('content-length', String(length))
  if (extra !== undefined) list.push(...extra)
  if (ctx.extraResponseHeaders !== undefined) list.push(...ctx.extraResponseHeaders)
  const plan = ctx.destination?.responsePlan ?? ctx.route?.responsePlan
  const headers = finishResponseHeaders(list, plan, ctx.prepared.serverHeader)
  ctx.responseHeaders = headers
  res.writeHead(status, headers)
  if (length > 0 && ctx.method !== 'HEAD') {
    ctx.bytesSent = length
    res.end(body)
  } else {
    res.end()
  }
}

/**
 * The gateway ends the request itself (a downstream timeout or protocol error): the upstream
 * attempt is aborted, which destroys its connection (a half-sent request cannot be reused), and
 * no timer may answer after the reply that follows.
 */
export function abandonUpstream(ctx: RequestContext): void {
  ctx.holds.abandon('downstream')
}

/** A throw on the request path is a bug: 500 for the client, an error log with the request id. */
export function replyToBug(
  env: HandlerEnv,
  ctx: RequestContext | undefined,
  res: ServerResponse,
  err: unknown,
): void {
  env.log.error('request handling failed', { requestId: ctx?.requestId, err })
  try {
    if (ctx !== undefined) {
      ctx.holds.abandon('downstream')
      sendLocalReply(ctx, 500, 0, 'internal_error')
    } else if (!res.headersSent) {
      res.writeHead(500, { 'content-length': '0' })
      res.end()
    } else {
      res.destroy()
    }
  } catch {
    res.destroy()
  }
}
