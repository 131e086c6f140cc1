/**
 * The stream idle timeout and the minimum request body rate (settings.downstream), for every
 * request in flight on HTTP/1.1 and HTTP/2 alike.
 *
 * Why one coarse sweep instead of a timer per request: the hot path must not arm, refresh and
 * clear a timer per request or per chunk. Progress is read from counters the request path keeps
 * anyway (bytes sent downstream, body bytes read), so a request costs one Set insert and delete;
 * the sweep runs only while requests are in flight, once a second (more often when a configured
 * timeout is short), and its error is a fraction of a tick.
 *
 * Semantics, as Envoy's stream_idle_timeout: no bytes either way for the timeout (a request
 * waiting for its upstream's headers included) ends the request: 408 when its response has not
 * started, a reset otherwise (a slow reader whose buffers stay full is one). Both record flag SI.
 * The body rate counts only time in which the gateway is reading the body (an upstream that
 * pushes back is not the client's fault), in tumbling windows: fewer than rate × window bytes in
 * a window is 408. Either way the upstream attempt is aborted, which frees its connection, and
 * the breaker and shared pool slots are released when the response closes (handler.ts).
 */
import { performance } from 'node:perf_hooks'
import type * as ir from '../../ir/index.js'
import type { RequestContext, RequestWatch } from './context.js'
import { Details } from '../record/details.js'
import { Flag } from '../record/flags.js'
import { abandonUpstream, sendLocalReply } from './local-reply.js'

/** The longest time between checks, and the shortest (for timeouts of a few hundred ms). */
const MAX_TICK_MS = 1000
const MIN_TICK_MS = 25

export const STREAM_IDLE_DETAILS = Details.streamIdleTimeout
export const BODY_RATE_DETAILS = Details.requestBodyRateTooLow
/** Envoy's local reply body for a stream idle timeout. */
const TIMEOUT_BODY = 'stream timeout'

export class StreamTimeouts implements RequestWatch {
  /**
   * The requests watched, each knowing its slot (ctx.watchSlot) so removal swaps the last one in.
   * Why not a Set: with a request added and deleted per request, a Set kept each context alive
   * long enough to survive young-generation GCs (about 0.9 MB promoted per scavenge against
   * 40 KB without it, scavenges 3-4x longer), which made GC the largest per-request cost.
   */
  readonly #active: RequestContext[] = []
  #timer: NodeJS.Timeout | undefined = undefined
  #tickMs = MAX_TICK_MS
  #lastSweep = 0
  #lastLimits: ir.DownstreamLimits | undefined = undefined

  /** Starts watching a request that has just arrived. */
  track(ctx: RequestContext): void {
    const limits = ctx.prepared.snapshot.settings.downstream
    if (limits !== this.#lastLimits) this.#tune(limits)
    if (limits.streamIdleTimeoutMs === 0 && limits.minRequestBodyRate === 0) return
    ctx.idleSinceMark = ctx.startMark
    if (ctx.watchSlot >= 0) return
    ctx.watchSlot = this.#active.length
    this.#active.push(ctx)
    if (this.#timer === undefined) {
      this.#lastSweep = performance.now()
      this.#timer = setInterval(sweep, this.#tickMs, this)
      this.#timer.unref()
    }
  }

  untrack(ctx: RequestContext): void {
    const slot = ctx.watchSlot
    const active = this.#active
    if (slot < 0 || active[slot] !== ctx) return
    ctx.watchSlot = -1
    const last = active.pop()!
    if (last !== ctx) {
      active[slot] = last
      last.watchSlot = slot
    }
  }

  /** Requests watched now (tests). */
  get size(): number {
    return this.#active.length
  }

  /** Checks at a quarter of the shortest configured time, within [MIN_TICK_MS, MAX_TICK_MS]. */
  #tune(limits: ir.DownstreamLimits): void {
    this.#lastLimits = limits
    let shortest = MAX_TICK_MS * 4
    if (limits.streamIdleTimeoutMs > 0) shortest = Math.min(shortest, limits.streamIdleTimeoutMs)
    if (limits.minRequestBodyRate > 0) {
      shortest = Math.min(shortest, limits.minRequestBodyRateWindowMs)
    }
    const tick = Math.max(MIN_TICK_MS, Math.min(MAX_TICK_MS, Math.floor(shortest / 4)))
    if (tick >= this.#tickMs) return
    this.#tickMs = tick
    if (this.#timer !== undefined) {
      clearInterval(this.#timer)
      this.#timer = setInterval(sweep, tick, this)
      this.#timer.unref()
    }
  }

  /** One pass over the requests in flight. */
  check(): void {
    const now = performance.now()
    const elapsed = now - this.#lastSweep
    this.#lastSweep = now
    // Backwards, so a request removed here (the last one swapped into its slot was already
    // checked) never makes the pass skip one that has not been.
    const active = this.#active
    for (let i = active.length - 1; i >= 0; i--) {
      const ctx = active[i]
      if (ctx === undefined) continue
      if (ctx.closed) {
        this.untrack(ctx)
        continue
      }
      const limits = ctx.prepared.snapshot.settings.downstream
      const progress = ctx.bytesSent + ctx.bytesReceived
      if (progress !== ctx.idleProgress) {
        ctx.idleProgress = progress
        ctx.idleSinceMark = now
      } else if (
        limits.streamIdleTimeoutMs > 0 &&
        now - ctx.idleSinceMark >= limits.streamIdleTimeoutMs
      ) {
        this.untrack(ctx)
        expire(ctx, STREAM_IDLE_DETAILS)
        continue
      }
      if (limits.minRequestBodyRate > 0 && ctx.hasBody && isReadingBody(ctx)) {
        ctx.bodyWaitMs += elapsed
        if (ctx.bodyWaitMs >= limits.minRequestBodyRateWindowMs) {
          const bytes = ctx.bytesReceived - ctx.bodyWindowStartBytes
          if (bytes * 1000 < limits.minRequestBodyRate * ctx.bodyWaitMs) {
            this.untrack(ctx)
            expire(ctx, BODY_RATE_DETAILS)
            continue
          }
          ctx.bodyWaitMs = 0
          ctx.bodyWindowStartBytes = ctx.bytesReceived
        }
      }
    }
    if (active.length === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer)
      this.#timer = undefined
    }
  }
}

function sweep(timeouts: StreamTimeouts): void {
  timeouts.check()
}

/**
 * The body is incomplete and someone is consuming it (the upstream exchange or the retry
 * buffer): the request stream flows and holds nothing unread. A paused stream means the upstream
 * pushes back; no consumer yet means the gateway is still deciding (admission, DNS).
 */
function isReadingBody(ctx: RequestContext): boolean {
  const req = ctx.req
  return !req.complete && req.readableFlowing === true && req.readableLength === 0
}

function expire(ctx: RequestContext, details: string): void {
  try {
    abandonUpstream(ctx)
    const res = ctx.res
    // The rest of an unread body is still on the wire: this connection cannot carry another
    // request. (HTTP/2 ends only the stream.)
    if (!res.headersSent && ctx.req.httpVersionMajor === 1) res.shouldKeepAlive = false
    sendLocalReply(ctx, 408, Flag.SI, details, TIMEOUT_BODY)
  } catch (err) {
    ctx.env.log.error('stream timeout failed', { requestId: ctx.requestId, err })
    ctx.res.destroy()
  }
}
