/** The head of the upstream request: the forwarding headers and the path, shared by every end. */
import type { PreparedDestination } from '../prepared.js'
import type { RequestContext } from './context.js'
import { appendForwardedFor, isInternalAddress, trustedClientAddress } from './forwarded.js'
import { buildUpstreamRequestHeaders } from './request-headers.js'

/** The client's headers with the destination's header plan and the forwarding headers applied. */
export function buildHeaders(ctx: RequestContext, dest: PreparedDestination): string[] {
  const req = ctx.req
  const xff = req.headers['x-forwarded-for']
  const existing = Array.isArray(xff) ? xff.join(',') : xff
  const client = trustedClientAddress(existing, ctx.peer, ctx.prepared.numTrustedProxies)
  return buildUpstreamRequestHeaders(req.rawHeaders, req.headers.connection, dest.requestPlan, {
    authority: dest.authority ?? ctx.authority,
    forwardedFor: appendForwardedFor(existing, ctx.peer),
    forwardedProto: ctx.forwardedProto,
    requestId: ctx.requestId,
    externalAddress: isInternalAddress(client) ? undefined : client,
  })
}

/** The path as received (origin form) unless the rewrite step changed it; the query stays. */
export function upstreamPath(ctx: RequestContext): string {
  if (ctx.upstreamPath !== undefined) return ctx.upstreamPath
  const url = ctx.req.url ?? '/'
  if (url.charCodeAt(0) === 47 /* '/' */) return url
  return ctx.query === '' ? ctx.path : `${ctx.path}?${ctx.query}`
}
