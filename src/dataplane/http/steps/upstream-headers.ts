/**
 * The upstream request head: the client's headers with hop-by-hop ones dropped, the
 * destination's and route's header plan applied, and the forwarding headers (x-forwarded-*,
 * x-request-id, x-envoy-external-address). Built once; every attempt and mirror sends it.
 */
import type { RequestStep } from '../step.js'
import { buildHeaders } from '../upstream-head.js'

export const upstreamHeadersStep: RequestStep<true> = {
  name: 'upstream-headers',
  prepare: ({ route }) => (route.action.kind === 'forward' ? true : undefined),
  run(ctx) {
    const dest = ctx.destination
    if (dest !== undefined) ctx.upstreamHeaders = buildHeaders(ctx, dest)
    return true
  },
}
