/**
 * Envoy's CORS filter for a route with an Istio corsPolicy. A preflight (OPTIONS with Origin
 * and Access-Control-Request-Method) from an allowed origin is answered here with 200 and the
 * policy's allow lists (joined with "," and no space); a preflight from another origin goes
 * upstream, or with `unmatchedPreflights: IGNORE` is answered with 200 and no CORS headers. An
 * actual request from an allowed origin gets the origin echoed (and expose/credentials) on the
 * response, whoever produces it.
 */
import { testStringMatch } from '../../../match/index.js'
import type { RequestContext } from '../context.js'
import { prepareCors } from '../cors-policy.js'
import type { PreparedCors } from '../cors-policy.js'
import { sendLocalReply } from '../local-reply.js'
import type { RequestStep } from '../step.js'

export const corsStep: RequestStep<PreparedCors> = {
  name: 'cors',
  prepare: ({ route }) =>
    route.cors !== undefined ? prepareCors(route.cors, route.id) : undefined,
  run: (ctx, cors) => !applyCors(ctx, cors),
}

/** Returns true when the request has been answered here (a preflight). */
function applyCors(ctx: RequestContext, cors: PreparedCors): boolean {
  const origin = ctx.req.headers.origin
  if (origin === undefined || origin === '') return false
  const allowed = cors.origins.some((m) => testStringMatch(m, origin))
  const isPreflight =
    ctx.method === 'OPTIONS' && ctx.req.headers['access-control-request-method'] !== undefined
  if (isPreflight) {
    if (allowed) {
      ctx.extraResponseHeaders = ['access-control-allow-origin', origin, ...cors.preflight]
      sendLocalReply(ctx, 200, 0, 'cors_response')
      return true
    }
    if (cors.forwardUnmatched) return false
    sendLocalReply(ctx, 200, 0, 'cors_response')
    return true
  }
  if (allowed) ctx.extraResponseHeaders = ['access-control-allow-origin', origin, ...cors.actual]
  return false
}
