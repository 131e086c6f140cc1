import { errors as undiciErrors } from 'undici'
import { performance } from 'node:perf_hooks'
import type { PreparedDestination, PreparedRoute } from '../prepare.js'
import type { RequestContext } from './context.js'
import { Flag } from './flags.js'
import { appendForwardedFor, isInternalAddress, trustedClientAddress } from './forwarded.js'
import { LocalReplyBody, replyToBug, sendLocalReply } from './local-reply.js'
import { buildUpstreamRequestHeaders, setAttemptCount } from './request-headers.js'
import { buildDownstreamResponseHeaders } from './response-headers.js'
import { isRetriableStatus, retryBackoffMs } from './retry-policy.js'
import type { PreparedRetry } from './retry-policy.js'
import { rewritePath } from './rewrite.js'
import { UpstreamExchange } from './upstream-exchange.js'
import type { ExchangeEvents } from './upstream-exchange.js'

/**
 * Envoy's stream idle timeout (5 min): bounds an upstream that accepts a request and then goes
 * silent, before headers or between body chunks, when the route sets no timeout of its own.
 */
const UPSTREAM_IDLE_TIMEOUT_MS = 300_000

/** The forward action: pick a destination, then run attempts until one answers or we give up. */
export function forwardRequest(ctx: RequestContext, route: PreparedRoute): void {
  const dest = pickDestination(route)
  if (dest === undefined || dest.cluster === undefined) {
    if (dest !== undefined) ctx.destination = dest
    sendLocalReply(ctx, 503, Flag.NC, 'cluster_not_found')
    return
  }
  ctx.destination = dest
  if (route.timeoutMs !== undefined && route.timeoutMs > 0) {
    ctx.routeTimer = setTimeout(guarded, route.timeoutMs, onRouteTimeout, ctx)
  }
  const resolving = dest.cluster.resolving
  if (resolving === undefined) {
    startAttempt(ctx)
    return
  }
  // Only the first requests to a DNS cluster wait, until its first answer is in.
  resolving.then(
    () => guarded(startAttempt, ctx),
    () => guarded(startAttempt, ctx),
  )
}

/**
 * Runs a step that starts outside the request's own call stack (a timer, a DNS answer): a throw
 * there would otherwise crash the process instead of failing one request.
 */
function guarded(step: (ctx: RequestContext) => void, ctx: RequestContext): void {
  try {
    step(ctx)
  } catch (err) {
    replyToBug(ctx.env, ctx, ctx.res, err)
  }
}

/** Weighted pick among the route's destinations (weights are relative). */
function pickDestination(route: PreparedRoute): PreparedDestination | undefined {
  const ds = route.destinations
  if (ds.length <= 1) return ds[0]
  let r = Math.random() * route.totalWeight
  for (let i = 0; i < ds.length; i++) {
    r -= ds[i]!.destination.weight
    if (r < 0) return ds[i]
  }
  return ds[ds.length - 1]
}

function startAttempt(ctx: RequestContext): void {
  ctx.retryTimer = undefined
  if (ctx.closed || ctx.res.headersSent) return
  const dest = ctx.destination!
  const endpoint = dest.cluster!.pick(ctx.tried)
  if (endpoint === undefined) {
    sendLocalReply(ctx, 503, Flag.UH, 'no_healthy_upstream', LocalReplyBody.noHealthyUpstream)
    return
  }
  ctx.attempt++
  ctx.upstreamHost = endpoint.address
  let headers = ctx.upstreamHeaders
  if (headers === undefined) {
    headers = ctx.upstreamHeaders = buildHeaders(ctx, dest)
  } else {
    setAttemptCount(headers, ctx.attempt)
  }
  const route = ctx.route!
  const ex = new UpstreamExchange(ctx, endpoint, EVENTS)
  ctx.exchange = ex
  const perTry = route.retry.perTryTimeoutMs
  if (perTry !== undefined && perTry > 0) {
    ex.perTryTimer = setTimeout(guardedPerTryTimeout, perTry, ex)
  }
  endpoint.pool.dispatch(
    {
      path: upstreamPath(ctx, route),
      method: ctx.method,
      headers,
      body: ctx.hasBody ? ctx.req : null,
      headersTimeout: UPSTREAM_IDLE_TIMEOUT_MS,
      bodyTimeout: UPSTREAM_IDLE_TIMEOUT_MS,
    },
    ex,
  )
}

function buildHeaders(ctx: RequestContext, dest: PreparedDestination): string[] {
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

/** The path as received, unless the route rewrites it; the query always stays. */
function upstreamPath(ctx: RequestContext, route: PreparedRoute): string {
  const rw = route.rewrite
  if (rw === undefined) {
    const url = ctx.req.url ?? '/'
    if (url.charCodeAt(0) === 47 /* '/' */) return url
    return ctx.query === '' ? ctx.path : `${ctx.path}?${ctx.query}`
  }
  const prefixLength = ctx.matchIndex < 0 ? 1 : (route.prefixLengths[ctx.matchIndex] ?? 1)
  const path = rewritePath(rw, ctx.path, prefixLength)
  return ctx.query === '' ? path : `${path}?${ctx.query}`
}

const EVENTS: ExchangeEvents = {
  onHeaders(ex, status, raw) {
    const ctx = ex.ctx
    if (ex.cancelled !== undefined || ctx.closed) return false
    if (ex.perTryTimer !== undefined) clearTimeout(ex.perTryTimer)
    const retry = ctx.route!.retry
    if (isRetriableStatus(retry, status)) {
      if (mayRetry(ctx, retry, true)) {
        ex.cancel('retry')
        scheduleRetry(ctx, ex)
        return false
      }
      if (retry.attempts > 0 && !ctx.hasBody) ctx.flags |= Flag.URX
    }
    const serviceTime = Math.round(performance.now() - ex.startMark)
    ctx.upstreamServiceTimeMs = serviceTime
    const headers = buildDownstreamResponseHeaders(
      raw,
      ctx.destination!.responsePlan,
      ctx.prepared.serverHeader,
      serviceTime,
    )
    ctx.responseHeaders = headers
    ctx.details = 'via_upstream'
    ctx.res.writeHead(status, headers)
    return true
  },

  onComplete(ex) {
    const ctx = ex.ctx
    if (ctx.exchange === ex) ctx.exchange = undefined
    if (ctx.routeTimer !== undefined) clearTimeout(ctx.routeTimer)
    if (ex.cancelled !== undefined || ctx.closed) return
    ctx.res.end()
  },

  onError(ex, err) {
    const ctx = ex.ctx
    if (ctx.exchange === ex) ctx.exchange = undefined
    if (ex.perTryTimer !== undefined) clearTimeout(ex.perTryTimer)
    // The gateway ended this attempt itself and has already decided what comes next.
    if (ex.cancelled !== undefined || ctx.closed) return
    const res = ctx.res
    if (res.headersSent) {
      failAfterHeaders(ctx, err instanceof undiciErrors.BodyTimeoutError ? Flag.UT : Flag.UC)
      return
    }
    const route = ctx.route!
    const retry = route.retry
    if (isDownstreamFailure(ctx)) {
      ctx.flags |= Flag.DC
      ctx.details = 'downstream_remote_disconnect'
      if (!res.destroyed) res.destroy()
      return
    }
    if (err instanceof undiciErrors.InvalidArgumentError) {
      ctx.env.log.warn('request cannot be sent upstream', { requestId: ctx.requestId, err })
      sendLocalReply(ctx, 400, Flag.DPE, 'invalid_upstream_request')
      return
    }
    if (err instanceof undiciErrors.HeadersTimeoutError) {
      sendLocalReply(ctx, 504, Flag.UT, 'response_timeout', LocalReplyBody.timeout)
      return
    }
    if (!ex.connected) {
      // Nothing was sent: connect refused or timed out, or the pool is gone.
      if (mayRetry(ctx, retry, retry.onConnectFailure)) {
        scheduleRetry(ctx, ex)
        return
      }
      const urx = retry.onConnectFailure && retry.attempts > 0 && !ctx.hasBody ? Flag.URX : 0
      sendLocalReply(
        ctx,
        503,
        Flag.UF | urx,
        'upstream_reset_before_response_started{connection_failure}',
        LocalReplyBody.connectFailure,
      )
      return
    }
    if (mayRetry(ctx, retry, retry.onReset)) {
      scheduleRetry(ctx, ex)
      return
    }
    const urx = retry.onReset && retry.attempts > 0 && !ctx.hasBody ? Flag.URX : 0
    sendLocalReply(
      ctx,
      503,
      Flag.UC | urx,
      'upstream_reset_before_response_started{connection_termination}',
      LocalReplyBody.connectionTermination,
    )
  },
}

/** Retries need a bodyless request (bodies are streamed, not buffered) and attempts left. */
function mayRetry(ctx: RequestContext, retry: PreparedRetry, condition: boolean): boolean {
  return condition && !ctx.hasBody && ctx.attempt <= retry.attempts
}

function scheduleRetry(ctx: RequestContext, failed: UpstreamExchange): void {
  ;(ctx.tried ??= []).push(failed.endpoint)
  const delay = retryBackoffMs(ctx.route!.retry, ctx.attempt)
  ctx.retryTimer = setTimeout(guarded, delay, startAttempt, ctx)
}

/** The upstream broke off mid-response: the client must see a truncated response. */
function failAfterHeaders(ctx: RequestContext, flag: number): void {
  ctx.flags |= flag
  ctx.details = 'upstream_reset_after_response_started{connection_termination}'
  ctx.resetByGateway = true
  if (ctx.routeTimer !== undefined) clearTimeout(ctx.routeTimer)
  ctx.res.destroy()
}

function isDownstreamFailure(ctx: RequestContext): boolean {
  const req = ctx.req
  return ctx.hasBody && !req.complete && (req.destroyed || req.errored !== null)
}

function onRouteTimeout(ctx: RequestContext): void {
  ctx.routeTimer = undefined
  if (ctx.closed) return
  if (ctx.retryTimer !== undefined) clearTimeout(ctx.retryTimer)
  ctx.exchange?.cancel('route-timeout')
  ctx.exchange = undefined
  if (ctx.res.headersSent) {
    failAfterHeaders(ctx, Flag.UT)
    return
  }
  sendLocalReply(ctx, 504, Flag.UT, 'response_timeout', LocalReplyBody.timeout)
}

function guardedPerTryTimeout(ex: UpstreamExchange): void {
  try {
    onPerTryTimeout(ex)
  } catch (err) {
    replyToBug(ex.ctx.env, ex.ctx, ex.ctx.res, err)
  }
}

function onPerTryTimeout(ex: UpstreamExchange): void {
  ex.perTryTimer = undefined
  const ctx = ex.ctx
  if (ex.headersReceived || ex.cancelled !== undefined || ctx.closed) return
  ex.cancel('per-try-timeout')
  if (ctx.exchange === ex) ctx.exchange = undefined
  const retry = ctx.route!.retry
  if (mayRetry(ctx, retry, retry.onPerTryTimeout)) {
    scheduleRetry(ctx, ex)
    return
  }
  const urx = retry.onPerTryTimeout && retry.attempts > 0 && !ctx.hasBody ? Flag.URX : 0
  sendLocalReply(ctx, 504, Flag.UT | urx, 'response_timeout', LocalReplyBody.timeout)
}
