/**
 * The request path, in order: the one list that executes. Every request (HTTP/1.1, HTTP/2, a
 * WebSocket upgrade, egress default routes) runs the same steps; only the end differs: a
 * local reply (a step answered), a forward (attempts over HTTP/1.1 or HTTP/2, forward.ts) or a
 * tunnel (a WebSocket upgrade, tunnel.ts). A route runs only the steps it prepared
 * (prepare-snapshot.ts calls prepareRouteSteps once per route per snapshot); nothing awaits
 * unless a step needs to.
 *
 * Before the route is known, for every request (runRequestSteps below):
 *  1. context      request id and start time first, so every outcome is logged with them
 *                  (handler.ts / upgrade.ts build it)
 *  2. overload     before routing (it costs one flag read): while the event loop lags, or at
 *                  maxActiveRequests requests in progress, 503 OM with Retry-After
 *  3. virtual-host Host picks the virtual host (exact, longest wildcard, *); none is 404 NR
 *                  (or the egress allowlist on egress.httpPorts listeners)
 *  4. require-tls  httpsRedirect covers the whole virtual host, before any route: 301 to https
 *  5. route        the first route whose match accepts the request; none is 404 NR
 */
import { matchRoute, selectVirtualHost, type CompiledVirtualHost } from '../../match/index.js'
import { normalizeHost } from '../../lib/index.js'
import type { PreparedEgressPort, PreparedStep } from '../prepared.js'
import type { RequestContext } from './context.js'
import { Flag } from '../record/flags.js'
import { portSite, routeEgress, type EgressSite } from './egress-route.js'
import { forwardRequest } from './forward.js'
import { replyToBug, sendLocalReply } from './local-reply.js'
import { shedOverloaded } from './overload-shed.js'
import { HTTPS_REDIRECT } from './redirect-location.js'
import { prepareSteps } from './step.js'
import type { RequestStep, StepInputs } from './step.js'
import { admissionStep } from './steps/admission.js'
import { corsStep } from './steps/cors.js'
import { destinationStep } from './steps/destination.js'
import { directResponseStep } from './steps/direct-response.js'
import { dnsWaitStep } from './steps/dns-wait.js'
import { faultAbortStep, faultDelayStep } from './steps/fault.js'
import { hashKeyStep } from './steps/hash-key.js'
import { mirrorStep } from './steps/mirror.js'
import { rateLimitStep } from './steps/rate-limit.js'
import { redirectLocation, redirectStep } from './steps/redirect.js'
import { retryBodyStep } from './steps/retry-body.js'
import { rewriteStep } from './steps/rewrite.js'
import { traceInjectStep, traceStartStep } from './steps/trace.js'
import { upstreamHeadersStep } from './steps/upstream-headers.js'
import { openTunnel } from './tunnel.js'

/** The route steps, in the order they run, each with why it sits there. */
export const REQUEST_STEPS: readonly (readonly [RequestStep<unknown>, string])[] = [
  [
    traceStartStep,
    'first: the span covers every outcome of the route (preflight, 429, redirect, forward); it ends with the record',
  ],
  [
    corsStep,
    'Envoy runs its CORS filter before the router: an allowed preflight is answered here, and CORS headers go on every response after it',
  ],
  [
    rateLimitStep,
    'after the route (policies attach to routes), before any work the limit protects; the only step that may wait for Redis: 429 RL, fail-closed store error 500 RLSE',
  ],
  [redirectStep, 'terminal and cheap: a Location built as Envoy does, nothing goes upstream'],
  [directResponseStep, 'terminal: the route answers with its status, body and response headers'],
  [destinationStep, 'the forward action from here on: a destination by weight (503 NC)'],
  [faultDelayStep, 'fault filter before the router: an injected delay (DI) comes first'],
  [
    faultAbortStep,
    'after the delay, before any upstream work: the abort status (FI, never retried)',
  ],
  [
    admissionStep,
    'circuit breaker (503 UO), the route timeout from here, shared pool limits; after faults, which Envoy answers before the router admits',
  ],
  [hashKeyStep, 'once per request, before any endpoint is picked (it may issue a cookie)'],
  [retryBodyStep, 'a route that retries keeps a small body, before the head and mirrors use it'],
  [rewriteStep, 'the upstream path, before the mirrors and the end send it'],
  [upstreamHeadersStep, 'the upstream head, once, after everything that adds to it'],
  [
    traceInjectStep,
    'right after the head is built: the client trace headers give way to this span, before mirrors and attempts send it',
  ],
  [mirrorStep, 'fire-and-forget copies once head and body are known, before the real attempt'],
  [dnsWaitStep, 'last: only a DNS cluster without its first answer waits, right before connecting'],
]

const STEPS = REQUEST_STEPS.map(([step]) => step)

/** The steps one route uses, with their state (prepare-snapshot.ts, once per route per snapshot). */
export function prepareRouteSteps(inputs: StepInputs): PreparedStep[] {
  return prepareSteps(STEPS, inputs)
}

/** Runs a request from the overload check on (handler.ts and upgrade.ts built its context). */
export function runRequestSteps(ctx: RequestContext): void {
  if (isShed(ctx)) return
  const table = ctx.prepared.routeTables.get(ctx.listener.id)
  const vhost = table && selectVirtualHost(table, normalizeHost(ctx.authority) ?? '')
  if (vhost === undefined) {
    // egress.httpPorts: the allowlist decides Hosts no route serves (only such listeners pay).
    const port = ctx.prepared.egressPorts?.get(ctx.listener.id)
    if (port !== undefined && ctx.tunnelHead === undefined) {
      const egress = routeEgress(ctx, siteOf(ctx, port))
      if (egress !== undefined) runVirtualHost(ctx, egress)
      return
    }
    sendLocalReply(ctx, 404, Flag.NR, 'route_not_found')
    return
  }
  runVirtualHost(ctx, vhost)
}

/**
 * The outbound listener's requests: the same path, with the egress allowlist choosing the
 * virtual host (a registered destination's default or mesh routes), refusing, or passing
 * through (egress-route.ts).
 */
export function runEgressRequest(ctx: RequestContext, site: EgressSite): void {
  if (isShed(ctx)) return
  const vhost = routeEgress(ctx, site)
  if (vhost !== undefined) runVirtualHost(ctx, vhost)
}

/**
 * While the event loop lags, or while maxActiveRequests requests are in progress, 503 OM before
 * any routing (a flag read, and with the cap a comparison). A request the cap admits counts
 * until its holds are released.
 */
function isShed(ctx: RequestContext): boolean {
  const overload = ctx.env.overload
  if (overload === undefined) return false
  const cap = overload.maxActiveRequests
  if (!overload.isOverloaded && (cap === 0 || overload.activeRequests < cap)) {
    if (cap !== 0) ctx.holds.countActive(overload)
    return false
  }
  shedOverloaded(ctx, overload)
  return true
}

const PORT_SITES = new WeakMap<PreparedEgressPort, EgressSite>()

/** An httpPorts listener's site, built once per prepared port. */
function siteOf(ctx: RequestContext, port: PreparedEgressPort): EgressSite {
  let site = PORT_SITES.get(port)
  if (site === undefined) {
    site = portSite(port, ctx.env.resolverFor(ctx.prepared))
    PORT_SITES.set(port, site)
  }
  return site
}

/** The steps after the virtual host is known; egress default routes enter here too. */
export function runVirtualHost(ctx: RequestContext, vhost: CompiledVirtualHost): void {
  if (vhost.requireTls && ctx.forwardedProto !== 'https') {
    const location = redirectLocation(ctx, HTTPS_REDIRECT, -1)
    sendLocalReply(ctx, 301, 0, 'https_redirect', undefined, location)
    return
  }
  const match = matchRoute(vhost, ctx)
  const route = match && ctx.prepared.routes.get(match.route)
  if (match === undefined || route === undefined) {
    sendLocalReply(ctx, 404, Flag.NR, 'route_not_found')
    return
  }
  ctx.route = route
  ctx.matchIndex = match.matchIndex
  ctx.stepIndex = 0
  continueSteps(ctx)
}

/**
 * Runs the route's steps from ctx.stepIndex until one takes over, then the end. A step that
 * waited calls this again (it is the `next` every step gets), so a throw anywhere, also from a
 * timer or a store's answer, fails this one request instead of the process.
 */
function continueSteps(ctx: RequestContext): void {
  try {
    if (ctx.closed) return
    const steps = ctx.route?.steps
    if (steps === undefined) return
    while (ctx.stepIndex < steps.length) {
      const slot = steps[ctx.stepIndex++]!
      if (!slot.step.run(ctx, slot.state, continueSteps)) return
    }
    if (ctx.tunnelHead !== undefined) openTunnel(ctx, ctx.tunnelHead)
    else forwardRequest(ctx)
  } catch (err) {
    replyToBug(ctx.env, ctx, ctx.res, err)
  }
}
