import { errors as undiciErrors } from 'undici'
import type { Dispatcher } from 'undici'
import { performance } from 'node:perf_hooks'
import { checkEgressAddress, decideEgress } from '../../match/index.js'
import { denialBody, EGRESS_HEADER, EGRESS_REASON_HEADER } from '../egress/egress-reply.js'
import type { PreparedDestination, PreparedRoute } from '../prepare.js'
import type { EgressGuard } from '../types.js'
import type { UpstreamEndpoint } from '../upstream/endpoint.js'
import { isRefusedStream } from '../upstream/h2-pool.js'
import { isUpstreamProtocolError } from '../upstream/protocol-error.js'
import { tlsFailureCode } from '../upstream/upstream-tls.js'
import type { RequestContext } from './context.js'
import { Flag } from '../record/flags.js'
import { Details, egressDenied, upstreamResetBeforeResponse } from '../record/details.js'
import { appendForwardedFor, isInternalAddress, trustedClientAddress } from './forwarded.js'
import { LocalReplyBody, replyToBug, sendLocalReply } from './local-reply.js'
import { buildUpstreamRequestHeaders, setAttemptCount } from './request-headers.js'
import { buildDownstreamResponseHeaders } from './response-headers.js'
import { announceGrpcTrailers, sendTrailers } from './trailers.js'
import { isRetriableStatus, retryBackoffMs } from './retry-policy.js'
import type { PreparedRetry } from './retry-policy.js'
import { requestHash } from './hash-key.js'
import { sendMirrors } from './mirror.js'
import { rewritePath } from './rewrite.js'
import { UpstreamExchange } from './upstream-exchange.js'
import type { ExchangeEvents } from './upstream-exchange.js'

/**
 * Envoy's stream idle timeout (5 min): bounds an upstream that accepts a request and then goes
 * silent, before headers or between body chunks, when the route sets no timeout of its own.
 */
const UPSTREAM_IDLE_TIMEOUT_MS = 300_000

/** Bodies up to this size are kept so a retry can send them again (Envoy buffers similarly). */
export const RETRY_BODY_CAP_BYTES = 64 * 1024

/**
 * The forward action: pick a destination, apply fault injection (a delay, then maybe an
 * abort), then run attempts until one answers or we give up. The route timeout starts after
 * an injected delay, as in Envoy where the fault filter runs before the router.
 */
export function forwardRequest(ctx: RequestContext, route: PreparedRoute): void {
  const dest = pickDestination(route)
  if (dest === undefined || dest.cluster === undefined) {
    if (dest !== undefined) ctx.destination = dest
    sendLocalReply(ctx, 503, Flag.NC, Details.clusterNotFound)
    return
  }
  ctx.destination = dest
  const delay = route.fault?.delay
  if (delay !== undefined && isSelected(delay.percent)) {
    ctx.flags |= Flag.DI
    ctx.retryTimer = setTimeout(guarded, delay.fixedDelayMs, afterFaultDelay, ctx)
    return
  }
  afterFaultDelay(ctx)
}

/** Percentages are doubles; Envoy resolves them to one part per million. */
function isSelected(percent: number): boolean {
  return percent >= 100 || (percent > 0 && Math.random() * 100 < percent)
}

function afterFaultDelay(ctx: RequestContext): void {
  ctx.retryTimer = undefined
  if (ctx.closed) return
  const route = ctx.route!
  const abort = route.fault?.abort
  if (abort !== undefined && isSelected(abort.percent)) {
    sendLocalReply(ctx, abort.httpStatus, Flag.FI, Details.faultAbort, LocalReplyBody.faultAbort)
    return
  }
  const cluster = ctx.destination!.cluster!
  if (!cluster.admit()) {
    sendLocalReply(
      ctx,
      503,
      Flag.UO,
      upstreamResetBeforeResponse('overflow'),
      LocalReplyBody.overflow,
      undefined,
      OVERLOADED,
    )
    return
  }
  ctx.admittedBy = cluster
  // Time spent waiting for a shared pool slot counts against the route timeout, as in Envoy.
  const timeoutMs = effectiveTimeoutMs(ctx, route)
  if (timeoutMs !== undefined && timeoutMs > 0) {
    ctx.routeTimer = setTimeout(guarded, timeoutMs, onRouteTimeout, ctx)
  }
  if (cluster.sharedLimits !== undefined) {
    ctx.poolTicket = cluster.sharedLimits.enter(ctx, onSharedAdmission)
    return
  }
  afterAdmission(ctx)
}

/** The limits shared with other replicas answered (never synchronously). */
function onSharedAdmission(ctx: RequestContext, isAdmitted: boolean): void {
  if (ctx.closed) return
  if (isAdmitted) guarded(afterAdmission, ctx)
  else guarded(replyOverflow, ctx)
}

function replyOverflow(ctx: RequestContext): void {
  sendLocalReply(
    ctx,
    503,
    Flag.UO,
    upstreamResetBeforeResponse('overflow'),
    LocalReplyBody.overflow,
    undefined,
    OVERLOADED,
  )
}

function afterAdmission(ctx: RequestContext): void {
  const route = ctx.route!
  const cluster = ctx.admittedBy!
  if (cluster.hashKey !== undefined) ctx.hash = requestHash(ctx, cluster.hashKey)
  if (ctx.hasBody && route.retry.attempts > 0 && isSmallBody(ctx)) {
    readBody(ctx)
    return
  }
  afterBody(ctx)
}

const OVERLOADED = ['x-envoy-overloaded', 'true'] as const

/**
 * The route timeout, or a client's `x-envoy-upstream-rq-timeout-ms` when the client is
 * internal by Envoy's rules (the trusted client address, after numTrustedProxies, is loopback,
 * RFC 1918 or ULA). 0 disables the timeout, as in Envoy.
 */
function effectiveTimeoutMs(ctx: RequestContext, route: PreparedRoute): number | undefined {
  const sent = ctx.req.headers['x-envoy-upstream-rq-timeout-ms']
  if (typeof sent !== 'string' || !/^\d{1,9}$/.test(sent)) return route.timeoutMs
  const xff = ctx.header('x-forwarded-for')
  const client = trustedClientAddress(xff, ctx.peer, ctx.prepared.numTrustedProxies)
  return isInternalAddress(client) ? Number(sent) : route.timeoutMs
}

function isSmallBody(ctx: RequestContext): boolean {
  const length = ctx.req.headers['content-length']
  return length !== undefined && Number(length) <= RETRY_BODY_CAP_BYTES
}

/** Keeps a small body whole so every attempt can send it. */
function readBody(ctx: RequestContext): void {
  const chunks: Buffer[] = []
  const req = ctx.req
  req.on('data', (c: Buffer) => {
    chunks.push(c)
    // Progress for the stream idle timeout and the body rate (stream-timeouts.ts).
    ctx.bytesReceived += c.length
  })
  req.once('end', () => {
    const body = Buffer.concat(chunks)
    ctx.bodyBuffer = body
    ctx.bytesReceived = body.length
    guarded(afterBody, ctx)
  })
}

function afterBody(ctx: RequestContext): void {
  if (ctx.closed) return
  const dest = ctx.destination!
  const route = ctx.route!
  if (route.mirrors.length > 0 && (!ctx.hasBody || ctx.bodyBuffer !== undefined)) {
    sendMirrors(ctx, route.mirrors, headersFor(ctx, dest), upstreamPath(ctx, route))
  }
  const resolving = dest.cluster!.resolving
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

function headersFor(ctx: RequestContext, dest: PreparedDestination): string[] {
  return (ctx.upstreamHeaders ??= buildHeaders(ctx, dest))
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
export function pickDestination(route: PreparedRoute): PreparedDestination | undefined {
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
  const endpoint = dest.cluster!.pick(ctx.hash, ctx.tried)
  if (endpoint === undefined) {
    sendLocalReply(ctx, 503, Flag.UH, Details.noHealthyUpstream, LocalReplyBody.noHealthyUpstream)
    return
  }
  if (ctx.egressGuard !== undefined && isRefusedEgressEndpoint(ctx, ctx.egressGuard, endpoint)) {
    return
  }
  ctx.attempt++
  ctx.upstreamHost = endpoint.address
  const headers = headersFor(ctx, dest)
  setAttemptCount(headers, ctx.attempt)
  const route = ctx.route!
  const ex = new UpstreamExchange(ctx, endpoint, EVENTS)
  ctx.exchange = ex
  const perTry = route.retry.perTryTimeoutMs
  if (perTry !== undefined && perTry > 0) {
    ex.perTryTimer = setTimeout(guardedPerTryTimeout, perTry, ex)
  }
  const options: SniDispatchOptions & H2DispatchOptions = {
    path: upstreamPath(ctx, route),
    method: ctx.method,
    headers,
    body: ctx.bodyBuffer ?? (ctx.hasBody ? ctx.req : null),
    headersTimeout: UPSTREAM_IDLE_TIMEOUT_MS,
    bodyTimeout: UPSTREAM_IDLE_TIMEOUT_MS,
    // undici takes the SNI from the Host header unless told; TLS origination sends its own.
    servername: endpoint.servername,
  }
  const http2 = dest.cluster!.http2
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
}

const PRIVATE_ADDRESS_HEADERS = [
  EGRESS_HEADER,
  'denied',
  EGRESS_REASON_HEADER,
  'private_address',
] as const

/**
 * Egress listeners: a cluster's resolved address passes the allowlist's address check (a
 * non-public address needs allowPrivateAddresses or a ServiceEntry listing it) before anything
 * connects; a refusal is the egress 502. Audit mode lets it through.
 */
function isRefusedEgressEndpoint(
  ctx: RequestContext,
  guard: EgressGuard,
  endpoint: UpstreamEndpoint,
): boolean {
  const dest = ctx.destination!.destination
  const decision = decideEgress(guard.matcher, dest.host, dest.port)
  const checked = checkEgressAddress(guard.matcher, decision, endpoint.ip)
  if (checked === decision || checked.verdict !== 'denied') return false
  ctx.upstreamHost = endpoint.address
  sendLocalReply(
    ctx,
    502,
    Flag.EG,
    egressDenied('private_address'),
    denialBody(checked, 'private_address'),
    undefined,
    PRIVATE_ADDRESS_HEADERS,
  )
  return true
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

/** The path as received, unless the route rewrites it; the query always stays. */
export function upstreamPath(ctx: RequestContext, route: PreparedRoute): string {
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
    ctx.destination!.cluster!.reportStatus(ex.endpoint, status)
    const retry = ctx.route!.retry
    if (isRetriableStatus(retry, status)) {
      if (mayRetry(ctx, retry, true)) {
        ex.cancel('retry')
        scheduleRetry(ctx, ex)
        return false
      }
      if (hadRetries(ctx, retry)) ctx.flags |= Flag.URX
    }
    const serviceTime = Math.round(performance.now() - ex.startMark)
    ctx.upstreamServiceTimeMs = serviceTime
    const headers = buildDownstreamResponseHeaders(
      raw,
      ctx.destination!.responsePlan,
      ctx.prepared.serverHeader,
      serviceTime,
    )
    if (ctx.extraResponseHeaders !== undefined) headers.push(...ctx.extraResponseHeaders)
    if (ex.http2) announceGrpcTrailers(ctx, headers)
    ctx.responseHeaders = headers
    ctx.details = Details.viaUpstream
    ctx.res.writeHead(status, headers)
    return true
  },

  onComplete(ex, trailers) {
    const ctx = ex.ctx
    if (ctx.exchange === ex) ctx.exchange = undefined
    if (ctx.routeTimer !== undefined) clearTimeout(ctx.routeTimer)
    if (ex.cancelled !== undefined || ctx.closed) return
    if (trailers !== null && trailers.length > 0) sendTrailers(ctx, trailers)
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
      ctx.details = Details.downstreamRemoteDisconnect
      if (!res.destroyed) res.destroy()
      return
    }
    if (err instanceof undiciErrors.InvalidArgumentError) {
      ctx.env.log.warn('request cannot be sent upstream', { requestId: ctx.requestId, err })
      sendLocalReply(ctx, 400, Flag.DPE, Details.invalidUpstreamRequest)
      return
    }
    if (err instanceof undiciErrors.HeadersTimeoutError) {
      sendLocalReply(ctx, 504, Flag.UT, Details.responseTimeout, LocalReplyBody.timeout)
      return
    }
    ctx.destination!.cluster!.reportLocalFailure(ex.endpoint)
    const tlsFailure = tlsFailureCode(err)
    if (tlsFailure !== undefined) {
      ctx.transportFailure = tlsFailure
      ctx.env.log.warn('upstream TLS failed', {
        requestId: ctx.requestId,
        upstream: ex.endpoint.address,
        reason: tlsFailure,
        err,
      })
    }
    if (isUpstreamProtocolError(err)) {
      retryOrProtocolError(ctx, ex, retry)
      return
    }
    if (isRefusedStream(err)) {
      // REFUSED_STREAM guarantees the upstream did not process the request (RFC 9113 §8.7).
      retryOr503(
        ctx,
        ex,
        retry,
        retry.onRefusedStream,
        Flag.UF,
        'remote_refused_stream_reset',
        LocalReplyBody.refusedStream,
      )
      return
    }
    // A refused handshake (a TLS 1.3 server rejects the client certificate only after the
    // client has finished its side) is a connect failure too: no request reached the upstream.
    if (!ex.connected || tlsFailure !== undefined) {
      // Nothing was sent: connect refused or timed out, or the pool is gone.
      retryOr503(
        ctx,
        ex,
        retry,
        retry.onConnectFailure,
        Flag.UF,
        'connection_failure',
        LocalReplyBody.connectFailure,
      )
      return
    }
    retryOr503(
      ctx,
      ex,
      retry,
      retry.onReset,
      Flag.UC,
      'connection_termination',
      LocalReplyBody.connectionTermination,
    )
  },
}

/**
 * A failure before the response started: another attempt when the policy retries on it and the
 * request can be replayed, else 503 with the failure's flag (plus URX once retries ran out).
 */
function retryOr503(
  ctx: RequestContext,
  ex: UpstreamExchange,
  retry: PreparedRetry,
  retryOn: boolean,
  flag: number,
  reason: string,
  body: (typeof LocalReplyBody)[keyof typeof LocalReplyBody],
): void {
  if (mayRetry(ctx, retry, retryOn)) {
    scheduleRetry(ctx, ex)
    return
  }
  const urx = retryOn && hadRetries(ctx, retry) ? Flag.URX : 0
  sendLocalReply(ctx, 503, flag | urx, `upstream_reset_before_response_started{${reason}}`, body)
}

/**
 * A malformed response (UPE): 502, as Envoy answers it. The request reached the upstream, so
 * Envoy's `reset` (and `5xx`, `gateway-error`) retry it and `connect-failure` does not.
 */
function retryOrProtocolError(
  ctx: RequestContext,
  ex: UpstreamExchange,
  retry: PreparedRetry,
): void {
  if (mayRetry(ctx, retry, retry.onReset)) {
    scheduleRetry(ctx, ex)
    return
  }
  const urx = retry.onReset && hadRetries(ctx, retry) ? Flag.URX : 0
  sendLocalReply(
    ctx,
    502,
    Flag.UPE | urx,
    upstreamResetBeforeResponse('protocol_error'),
    LocalReplyBody.protocolError,
  )
}

/** Whether the request can be sent again: no body, or a kept one. */
function isReplayable(ctx: RequestContext): boolean {
  return !ctx.hasBody || ctx.bodyBuffer !== undefined
}

/**
 * Retries need a replayable request (a body already streamed upstream is gone), attempts
 * left, and room under the cluster's maxRetries breaker.
 */
function mayRetry(ctx: RequestContext, retry: PreparedRetry, condition: boolean): boolean {
  if (!condition || !isReplayable(ctx) || ctx.attempt > retry.attempts) return false
  if (!ctx.destination!.cluster!.admitRetry()) return false
  ctx.retriesHeld++
  return true
}

/** URX: the route could retry this request and the retries ran out. */
function hadRetries(ctx: RequestContext, retry: PreparedRetry): boolean {
  return retry.attempts > 0 && isReplayable(ctx) && ctx.attempt > retry.attempts
}

function scheduleRetry(ctx: RequestContext, failed: UpstreamExchange): void {
  ;(ctx.tried ??= []).push(failed.endpoint)
  const delay = retryBackoffMs(ctx.route!.retry, ctx.attempt)
  ctx.retryTimer = setTimeout(guarded, delay, startAttempt, ctx)
}

/** The upstream broke off mid-response: the client must see a truncated response. */
function failAfterHeaders(ctx: RequestContext, flag: number): void {
  ctx.flags |= flag
  ctx.details = Details.upstreamResetAfterResponse
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
  sendLocalReply(ctx, 504, Flag.UT, Details.responseTimeout, LocalReplyBody.timeout)
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
  ctx.destination!.cluster!.reportLocalFailure(ex.endpoint)
  const retry = ctx.route!.retry
  if (mayRetry(ctx, retry, retry.onPerTryTimeout)) {
    scheduleRetry(ctx, ex)
    return
  }
  const urx = retry.onPerTryTimeout && hadRetries(ctx, retry) ? Flag.URX : 0
  sendLocalReply(ctx, 504, Flag.UT | urx, Details.responseTimeout, LocalReplyBody.timeout)
}
