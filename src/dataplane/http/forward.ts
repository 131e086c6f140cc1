/**
 * The forward end: attempts to the destination's endpoints, over HTTP/1.1 (undici) or HTTP/2
 * (the session pool, for gRPC too), until one answers or the retry policy gives up (retry.ts).
 * The steps before it (order.ts) have picked the destination, admitted the request to its
 * cluster and built the upstream head.
 */
import type { Dispatcher } from 'undici'
import { performance } from 'node:perf_hooks'
import type { RequestContext } from './context.js'
import { isRefusedEgressEndpoint } from './egress-address.js'
import { Flag } from '../record/flags.js'
import { LocalReplyBody, replyToBug, sendLocalReply } from './local-reply.js'
import { setAttemptCount } from './request-headers.js'
import { buildDownstreamResponseHeaders } from './response-headers.js'
import { isRetriableStatus } from './retry-policy.js'
import { hadRetries, mayRetry, onAttemptFailed, onPerTryTimedOut, scheduleRetry } from './retry.js'
import { announceGrpcTrailers, sendTrailers } from './trailers.js'
import { UpstreamExchange } from './upstream-exchange.js'
import type { ExchangeEvents } from './upstream-exchange.js'
import { upstreamPath } from './upstream-head.js'

/**
 * Envoy's stream idle timeout (5 min): bounds an upstream that accepts a request and then goes
 * silent, before headers or between body chunks, when the route sets no timeout of its own.
 */
const UPSTREAM_IDLE_TIMEOUT_MS = 300_000

/** Starts the first attempt. */
export function forwardRequest(ctx: RequestContext): void {
  startAttempt(ctx)
}

/** One attempt; a retry calls it again from its backoff timer. */
function startAttempt(ctx: RequestContext): void {
  try {
    if (ctx.closed || ctx.res.headersSent) return
    const cluster = ctx.holds.admittedBy
    const route = ctx.route
    const headers = ctx.upstreamHeaders
    if (cluster === undefined || route === undefined || headers === undefined) {
      throw new Error('forward reached without admission, route or upstream head')
    }
    const endpoint = cluster.pick(ctx.hash, ctx.tried)
    if (endpoint === undefined) {
      sendLocalReply(ctx, 503, Flag.UH, 'no_healthy_upstream', LocalReplyBody.noHealthyUpstream)
      return
    }
    if (isRefusedEgressEndpoint(ctx, endpoint)) return
    ctx.attempt++
    ctx.upstreamHost = endpoint.address
    setAttemptCount(headers, ctx.attempt)
    const ex = new UpstreamExchange(ctx, endpoint, EVENTS)
    const span = ctx.trace?.startAttempt(cluster.id, endpoint.address, ctx.attempt)
    if (span !== undefined) {
      span.reparent(headers)
      ex.span = span
    }
    ctx.holds.attempt = ex
    const perTry = route.retry.perTryTimeoutMs
    if (perTry !== undefined && perTry > 0) {
      ex.perTryTimer = setTimeout(onPerTryTimer, perTry, ex)
    }
    const options: SniDispatchOptions & H2DispatchOptions = {
      path: upstreamPath(ctx),
      method: ctx.method,
      headers,
      body: ctx.bodyBuffer ?? (ctx.hasBody ? ctx.req : null),
      headersTimeout: UPSTREAM_IDLE_TIMEOUT_MS,
      bodyTimeout: UPSTREAM_IDLE_TIMEOUT_MS,
      // undici takes the SNI from the Host header unless told; TLS origination sends its own.
      servername: endpoint.servername,
    }
    const http2 = cluster.http2
    const h2Pool = endpoint.h2Pool
    if (
      h2Pool !== undefined &&
      (http2 === 'always' || (http2 === 'client' && ctx.req.httpVersionMajor === 2))
    ) {
      ex.http2 = true
      h2Pool.dispatch(options, ex)
      return
    }
    endpoint.pool.dispatch(options, ex)
  } catch (err) {
    replyToBug(ctx.env, ctx, ctx.res, err)
  }
}

/** undici reads `servername` from dispatch options; its typings do not declare it. */
interface SniDispatchOptions extends Dispatcher.DispatchOptions {
  readonly servername: string | undefined
}

/** The fields the HTTP/2 session pool reads, with the types the request path gives them. */
interface H2DispatchOptions {
  readonly headers: string[]
  readonly headersTimeout: number
  readonly bodyTimeout: number
  readonly body: Buffer | RequestContext['req'] | null
}

/** Drops the finished attempt from the holds (a retry may already have put the next one in). */
function settle(ctx: RequestContext, ex: UpstreamExchange): void {
  if (ctx.holds.attempt === ex) ctx.holds.attempt = undefined
}

const EVENTS: ExchangeEvents = {
  onHeaders(ex, status, raw) {
    const ctx = ex.ctx
    if (ex.cancelled !== undefined || ctx.closed) return false
    if (ex.perTryTimer !== undefined) clearTimeout(ex.perTryTimer)
    const cluster = ctx.holds.admittedBy
    cluster?.reportStatus(ex.endpoint, status)
    const route = ctx.route
    const dest = ctx.destination
    if (route === undefined || dest === undefined) throw new Error('response without a route')
    const retry = route.retry
    if (isRetriableStatus(retry, status)) {
      if (mayRetry(ctx, retry, true)) {
        ex.cancel('retry')
        settle(ctx, ex)
        scheduleRetry(ctx, ex, startAttempt)
        return false
      }
      if (hadRetries(ctx, retry)) ctx.flags |= Flag.URX
    }
    const serviceTime = Math.round(performance.now() - ex.startMark)
    ctx.upstreamServiceTimeMs = serviceTime
    const headers = buildDownstreamResponseHeaders(
      raw,
      dest.responsePlan,
      ctx.prepared.serverHeader,
      serviceTime,
    )
    if (ctx.extraResponseHeaders !== undefined) headers.push(...ctx.extraResponseHeaders)
    if (ex.http2) announceGrpcTrailers(ctx, headers)
    ctx.responseHeaders = headers
    ctx.details = 'via_upstream'
    ctx.res.writeHead(status, headers)
    return true
  },

  onComplete(ex, trailers) {
    const ctx = ex.ctx
    settle(ctx, ex)
    if (ex.cancelled !== undefined || ctx.closed) return
    ctx.holds.clearRouteTimer()
    if (trailers !== null && trailers.length > 0) sendTrailers(ctx, trailers)
    ctx.res.end()
  },

  onError(ex, err) {
    const ctx = ex.ctx
    settle(ctx, ex)
    if (ex.perTryTimer !== undefined) clearTimeout(ex.perTryTimer)
    // The gateway ended this attempt itself and has already decided what comes next.
    if (ex.cancelled !== undefined || ctx.closed) return
    const retry = ctx.route?.retry
    if (retry === undefined) throw new Error('attempt without a route')
    onAttemptFailed(ctx, ex, err, retry, startAttempt)
  },
}

function onPerTryTimer(ex: UpstreamExchange): void {
  const ctx = ex.ctx
  try {
    ex.perTryTimer = undefined
    if (ex.headersReceived || ex.cancelled !== undefined || ctx.closed) return
    ex.cancel('per-try-timeout')
    settle(ctx, ex)
    const retry = ctx.route?.retry
    if (retry !== undefined) onPerTryTimedOut(ctx, ex, retry, startAttempt)
  } catch (err) {
    replyToBug(ctx.env, ctx, ctx.res, err)
  }
}
