/**
 * Admission to the destination's cluster: its circuit breaker (maxConnections / pending
 * requests per process: 503 UO), the route timeout from here on, then the connection-pool
 * limits shared with other replicas when Redis holds them (waiting for a slot counts against
 * the route timeout, as in Envoy). Whatever is taken is the request's holds (request-holds.ts).
 */
import { Flag } from '../../record/flags.js'
import { LocalReplyBody, sendLocalReply } from '../local-reply.js'
import type { RequestContext } from '../context.js'
import { effectiveTimeoutMs, onRouteTimeout } from '../route-timeout.js'
import type { Next, RequestStep } from '../step.js'

const OVERLOADED = ['x-envoy-overloaded', 'true'] as const

/** Every forward route uses it; the state says nothing beyond that. */
export const admissionStep: RequestStep<true> = {
  name: 'admission',
  prepare: ({ route }) => (route.action.kind === 'forward' ? true : undefined),
  run(ctx, _state, next) {
    const cluster = ctx.destination?.cluster
    if (cluster === undefined || !ctx.holds.admit(cluster)) {
      replyOverflow(ctx)
      return false
    }
    const route = ctx.route
    // A tunnel lives as long as its peers talk; only requests have a route timeout.
    if (route !== undefined && ctx.tunnelHead === undefined) {
      const timeoutMs = effectiveTimeoutMs(ctx, route)
      if (timeoutMs !== undefined && timeoutMs > 0) {
        ctx.holds.startRouteTimer(timeoutMs, onRouteTimeout, ctx)
      }
    }
    // Only clusters under shared limits pay for the waiting request's continuation.
    return !ctx.holds.enterShared(cluster, { ctx, next }, onSharedAdmission)
  },
}

interface Waiting {
  readonly ctx: RequestContext
  readonly next: Next
}

/** The limits shared with other replicas answered (never synchronously, never after close). */
function onSharedAdmission(waiting: Waiting, isAdmitted: boolean): void {
  const ctx = waiting.ctx
  if (ctx.closed) return
  if (!isAdmitted) replyOverflow(ctx)
  else waiting.next(ctx)
}

function replyOverflow(ctx: RequestContext): void {
  sendLocalReply(
    ctx,
    503,
    Flag.UO,
    'upstream_reset_before_response_started{overflow}',
    LocalReplyBody.overflow,
    undefined,
    OVERLOADED,
  )
}
