/** The route timeout (Istio `timeout`), and how a response is cut off once it has started. */
import type { PreparedRoute } from '../prepared.js'
import type { RequestContext } from './context.js'
import { Flag } from '../record/flags.js'
import { isInternalAddress, trustedClientAddress } from './forwarded.js'
import { LocalReplyBody, replyToBug, sendLocalReply } from './local-reply.js'

/**
 * The route timeout, or a client's `x-envoy-upstream-rq-timeout-ms` when the client is
 * internal by Envoy's rules (the trusted client address, after numTrustedProxies, is loopback,
 * RFC 1918 or ULA). 0 disables the timeout, as in Envoy.
 */
export function effectiveTimeoutMs(ctx: RequestContext, route: PreparedRoute): number | undefined {
  const sent = ctx.req.headers['x-envoy-upstream-rq-timeout-ms']
  if (typeof sent !== 'string' || !/^\d{1,9}$/.test(sent)) return route.timeoutMs
  const xff = ctx.header('x-forwarded-for')
  const client = trustedClientAddress(xff, ctx.peer, ctx.prepared.numTrustedProxies)
  return isInternalAddress(client) ? Number(sent) : route.timeoutMs
}

/** The route timer fired: 504 UT, or a cut-off response when it had started. */
export function onRouteTimeout(ctx: RequestContext): void {
  try {
    ctx.holds.clearRouteTimer()
    if (ctx.closed) return
    ctx.holds.abandon('route-timeout')
    if (ctx.res.headersSent) {
      failAfterHeaders(ctx, Flag.UT)
      return
    }
    sendLocalReply(ctx, 504, Flag.UT, 'response_timeout', LocalReplyBody.timeout)
  } catch (err) {
    replyToBug(ctx.env, ctx, ctx.res, err)
  }
}

/** The upstream broke off mid-response: the client must see a truncated response. */
export function failAfterHeaders(ctx: RequestContext, flag: number): void {
  ctx.flags |= flag
  ctx.details = 'upstream_reset_after_response_started{connection_termination}'
  ctx.resetByGateway = true
  ctx.holds.clearRouteTimer()
  ctx.res.destroy()
}
