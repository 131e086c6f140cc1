/**
 * What follows a failed attempt: another attempt when the route's retry policy covers the
 * failure, the request can be replayed and the cluster's maxRetries breaker has room, else the
 * failure's local reply (with URX once retries ran out). `start` is the forward end's attempt
 * function, passed in so that this file does not depend on it.
 */
import { errors as undiciErrors } from '../upstream/undici.js'
import { isRefusedStream } from '../upstream/h2-pool.js'
import { isUpstreamProtocolError } from '../upstream/protocol-error.js'
import { tlsFailureCode } from '../upstream/upstream-tls.js'
import type { RequestContext } from './context.js'
import { Flag } from '../record/flags.js'
import { LocalReplyBody, sendLocalReply } from './local-reply.js'
import { retryBackoffMs } from './retry-policy.js'
import type { PreparedRetry } from './retry-policy.js'
import { failAfterHeaders } from './route-timeout.js'
import type { UpstreamExchange } from './upstream-exchange.js'

export type StartAttempt = (ctx: RequestContext) => void

type ReplyBody = (typeof LocalReplyBody)[keyof typeof LocalReplyBody]

/** The attempt failed (undici's or the HTTP/2 pool's error), the gateway did not cancel it. */
export function onAttemptFailed(
  ctx: RequestContext,
  ex: UpstreamExchange,
  err: Error,
  retry: PreparedRetry,
  start: StartAttempt,
): void {
  const res = ctx.res
  if (res.headersSent) {
    failAfterHeaders(ctx, err instanceof undiciErrors.BodyTimeoutError ? Flag.UT : Flag.UC)
    return
  }
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
  ctx.holds.admittedBy?.reportLocalFailure(ex.endpoint)
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
    // A malformed response (UPE) is 502 as Envoy answers it. The request reached the
    // upstream, so `reset` (and `5xx`, `gateway-error`) retry it and `connect-failure` does not.
    if (mayRetry(ctx, retry, retry.onReset)) {
      scheduleRetry(ctx, ex, start)
      return
    }
    const urx = retry.onReset && hadRetries(ctx, retry) ? Flag.URX : 0
    sendLocalReply(
      ctx,
      502,
      Flag.UPE | urx,
      'upstream_reset_before_response_started{protocol_error}',
      LocalReplyBody.protocolError,
    )
    return
  }
  if (isRefusedStream(err)) {
    // REFUSED_STREAM guarantees the upstream did not process the request (RFC 9113 §8.7).
    const body = LocalReplyBody.refusedStream
    retryOr503(ctx, ex, retry.onRefusedStream, Flag.UF, 'remote_refused_stream_reset', body, start)
    return
  }
  // A refused handshake (a TLS 1.3 server rejects the client certificate only after the
  // client has finished its side) is a connect failure too: no request reached the upstream.
  if (!ex.connected || tlsFailure !== undefined) {
    const body = LocalReplyBody.connectFailure
    retryOr503(ctx, ex, retry.onConnectFailure, Flag.UF, 'connection_failure', body, start)
    return
  }
  const body = LocalReplyBody.connectionTermination
  retryOr503(ctx, ex, retry.onReset, Flag.UC, 'connection_termination', body, start)
}

/** The per-try timeout passed before headers: retried as a reset, else 504 UT. */
export function onPerTryTimedOut(
  ctx: RequestContext,
  ex: UpstreamExchange,
  retry: PreparedRetry,
  start: StartAttempt,
): void {
  ctx.holds.admittedBy?.reportLocalFailure(ex.endpoint)
  if (mayRetry(ctx, retry, retry.onPerTryTimeout)) {
    scheduleRetry(ctx, ex, start)
    return
  }
  const urx = retry.onPerTryTimeout && hadRetries(ctx, retry) ? Flag.URX : 0
  sendLocalReply(ctx, 504, Flag.UT | urx, 'response_timeout', LocalReplyBody.timeout)
}

/** A failure before the response started: retried when the policy covers it, else 503. */
function retryOr503(
  ctx: RequestContext,
  ex: UpstreamExchange,
  retryOn: boolean,
  flag: number,
  reason: string,
  body: ReplyBody,
  start: StartAttempt,
): void {
  const retry = ctx.route?.retry
  if (retry !== undefined && mayRetry(ctx, retry, retryOn)) {
    scheduleRetry(ctx, ex, start)
    return
  }
  const urx = retry !== undefined && retryOn && hadRetries(ctx, retry) ? Flag.URX : 0
  sendLocalReply(ctx, 503, flag | urx, `upstream_reset_before_response_started{${reason}}`, body)
}

/** Whether the request can be sent again: no body, or a kept one. */
function isReplayable(ctx: RequestContext): boolean {
  return !ctx.hasBody || ctx.bodyBuffer !== undefined
}

/**
 * Retries need a replayable request (a body already streamed upstream is gone), attempts
 * left, and room under the cluster's maxRetries breaker (held until the request ends).
 */
export function mayRetry(ctx: RequestContext, retry: PreparedRetry, condition: boolean): boolean {
  if (!condition || !isReplayable(ctx) || ctx.attempt > retry.attempts) return false
  return ctx.holds.admitRetry()
}

/** URX: the route could retry this request and the retries ran out. */
export function hadRetries(ctx: RequestContext, retry: PreparedRetry): boolean {
  return retry.attempts > 0 && isReplayable(ctx) && ctx.attempt > retry.attempts
}

/** The next attempt after the backoff, to an endpoint not tried yet when there is one. */
export function scheduleRetry(
  ctx: RequestContext,
  failed: UpstreamExchange,
  start: StartAttempt,
): void {
  ;(ctx.tried ??= []).push(failed.endpoint)
  const retry = ctx.route?.retry
  const delay = retry === undefined ? 0 : retryBackoffMs(retry, ctx.attempt)
  ctx.holds.wait(delay, start, ctx)
}

function isDownstreamFailure(ctx: RequestContext): boolean {
  const req = ctx.req
  return ctx.hasBody && !req.complete && (req.destroyed || req.errored !== null)
}
