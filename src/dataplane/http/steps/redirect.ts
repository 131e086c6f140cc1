/** The route's redirect action: terminal and cheap, a Location built as Envoy does. */
import type * as ir from '../../../ir/index.js'
import type { RequestContext } from '../context.js'
import { sendLocalReply } from '../local-reply.js'
import { buildRedirectLocation } from '../redirect-location.js'
import type { RequestStep } from '../step.js'

export const redirectStep: RequestStep<ir.RedirectAction> = {
  name: 'redirect',
  prepare: ({ route }) => (route.action.kind === 'redirect' ? route.action : undefined),
  run(ctx, action) {
    const prefixLengths = ctx.route?.prefixLengths
    const prefixLength = ctx.matchIndex < 0 ? 1 : (prefixLengths?.[ctx.matchIndex] ?? 1)
    const location = redirectLocation(ctx, action, prefixLength)
    sendLocalReply(ctx, action.status, 0, 'direct_response', undefined, location)
    return false
  },
}

/** The Location for `spec` as this request sees it (also the virtual host's httpsRedirect). */
export function redirectLocation(
  ctx: RequestContext,
  spec: Parameters<typeof buildRedirectLocation>[0],
  matchedPrefixLength: number,
): string {
  return buildRedirectLocation(spec, {
    scheme: ctx.scheme,
    forwardedProto: ctx.forwardedProto,
    authority: ctx.authority,
    path: ctx.path,
    query: ctx.query,
    listenerPort: ctx.listener.port,
    matchedPrefixLength,
  })
}
