/**
 * The request path, in order. Each step is a plain function called below; a step a route does
 * not use costs nothing, and nothing awaits unless the step needs it (only the first request to
 * a DNS cluster waits for its answer). Reasons say why each step sits where it does.
 */
import { HTTPS_REDIRECT, buildRedirectLocation } from './redirect-location.js'
import { matchRoute, selectVirtualHost, type CompiledVirtualHost } from '../../match/index.js'
import { normalizeHost } from '../../lib/index.js'
import type { RequestContext } from './context.js'
import { applyCors } from './cors.js'
import { Flag } from '../record/flags.js'
import { Details } from '../record/details.js'
import { forwardRequest } from './forward.js'
import { sendLocalReply } from './local-reply.js'
import { applyRateLimits } from './rate-limit.js'

export const REQUEST_STEPS = [
  ['context', 'request id and start time first, so every outcome below is logged with them'],
  [
    'overload',
    'right after the context (a shed request is logged and counted) and before routing (it costs one flag read): while the event loop lags, 503 OM with Retry-After; handler.ts runs it',
  ],
  ['virtual-host', 'Host picks the virtual host (exact, longest wildcard, *); none is 404 NR'],
  ['require-tls', 'httpsRedirect covers the whole virtual host, before any route: 301 to https'],
  ['route', 'the first route whose match accepts the request; none is 404 NR'],
  [
    'cors',
    'Envoy runs its CORS filter before the router: an allowed preflight is answered here, and CORS headers go on every response after it',
  ],
  [
    'rate-limit',
    'after the route (policies attach to routes) and the cheap local answers before it, before any work the limit protects; the only step that may wait for Redis, and only on routes with a limit: 429 RL, fail-closed store error 500 RLSE',
  ],
  ['redirect', 'terminal and cheap: a Location built as Envoy does, nothing goes upstream'],
  ['direct-response', 'terminal: the route answers with its status, body and response headers'],
  [
    'forward',
    'last: destination by weight (503 NC), fault delay (DI) then abort (FI, never retried), circuit breaker (503 UO), route timeout from here, mirrors, endpoint by the load balancer (503 UH), attempts and retries',
  ],
] as const

/** Runs the steps after the context exists (handler.ts builds it). */
export function runRequestSteps(ctx: RequestContext): void {
  const table = ctx.prepared.routeTables.get(ctx.listener.id)
  const vhost = table && selectVirtualHost(table, normalizeHost(ctx.authority) ?? '')
  if (vhost === undefined) {
    // egress.httpPorts: the allowlist decides Hosts no route serves (only such listeners pay).
    const port = ctx.prepared.egressPorts?.get(ctx.listener.id)
    if (port !== undefined && ctx.env.egressHost !== undefined) {
      ctx.env.egressHost(ctx, port)
      return
    }
    sendLocalReply(ctx, 404, Flag.NR, Details.routeNotFound)
    return
  }
  runVirtualHost(ctx, vhost)
}

/** The steps after the virtual host is known; egress default routes enter here too. */
export function runVirtualHost(ctx: RequestContext, vhost: CompiledVirtualHost): void {
  if (vhost.requireTls && ctx.forwardedProto !== 'https') {
    sendLocalReply(
      ctx,
      301,
      0,
      'https_redirect',
      undefined,
      redirectLocation(ctx, HTTPS_REDIRECT, -1),
    )
    return
  }

  const match = matchRoute(vhost, ctx)
  const route = match && ctx.prepared.routes.get(match.route)
  if (match === undefined || route === undefined) {
    sendLocalReply(ctx, 404, Flag.NR, Details.routeNotFound)
    return
  }
  ctx.route = route
  ctx.matchIndex = match.matchIndex
  if (route.cors !== undefined && applyCors(ctx, route.cors)) return
  if (route.rateLimits !== undefined && applyRateLimits(ctx, route.rateLimits, runRouteAction)) {
    return
  }
  runRouteAction(ctx)
}

/** The route's action; the rate-limit step calls it later when it had to wait for the store. */
function runRouteAction(ctx: RequestContext): void {
  const route = ctx.route!
  const action = route.action
  switch (action.kind) {
    case 'redirect': {
      const prefixLength = ctx.matchIndex < 0 ? 1 : (route.prefixLengths[ctx.matchIndex] ?? 1)
      const location = redirectLocation(ctx, action, prefixLength)
      sendLocalReply(ctx, action.status, 0, Details.directResponse, undefined, location)
      return
    }
    case 'direct':
      sendLocalReply(ctx, action.status, 0, Details.directResponse, route.directBody)
      return
    case 'forward':
      forwardRequest(ctx, route)
      return
  }
}

function redirectLocation(
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
