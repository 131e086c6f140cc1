import type { Dispatcher } from 'undici'
import { performance } from 'node:perf_hooks'
import type { AttemptSpan } from '../../observe/events.js'
import type { UpstreamEndpoint } from '../upstream/endpoint.js'
import { CONTEXT } from './context.js'
import type { CancelReason, InFlightAttempt, RequestContext } from './context.js'
import { replyToBug } from './local-reply.js'

/** How the forward step reacts to what happens to one attempt. */
export interface ExchangeEvents {
  /** Response headers arrived (flat name/value list). Returns false to pause the upstream body. */
  onHeaders(
    ex: UpstreamExchange,
    status: number,
    raw: readonly (Buffer | string)[],
    resume: () => void,
  ): boolean
  /** The response ended cleanly, with its trailers (flat name/value list) when it had any. */
  onComplete(ex: UpstreamExchange, trailers: readonly (Buffer | string)[] | null): void
  onError(ex: UpstreamExchange, err: Error): void
}

const CANCELLED = new Error('request cancelled by the gateway')

/**
 * One attempt of a request to one endpoint, as an undici dispatch handler (the HTTP/2 session
 * pool drives the same contract): no per-chunk
 * allocations, backpressure both ways (undici pauses the request body when the upstream socket
 * is full; a full downstream response pauses the upstream via onData's return value).
 */
export class UpstreamExchange implements Dispatcher.DispatchHandler, InFlightAttempt {
  readonly ctx: RequestContext
  readonly endpoint: UpstreamEndpoint
  readonly startMark: number
  /** The attempt goes over an HTTP/2 session (trailers are expected). */
  http2 = false
  /** Set once the request is on a connection (connect succeeded). */
  connected = false
  headersReceived = false
  /** Why the gateway ended this attempt itself; its error is then expected and ignored. */
  cancelled: CancelReason | undefined = undefined
  perTryTimer: NodeJS.Timeout | undefined = undefined
  /** The attempt's CLIENT span, for sampled requests; ended when the attempt settles. */
  span: AttemptSpan | undefined = undefined
  /** The upstream's response status, once its headers came (0 before). */
  status = 0
  #abort: ((err?: Error) => void) | undefined = undefined
  #resume: (() => void) | undefined = undefined
  #settled = false
  readonly #events: ExchangeEvents

  constructor(ctx: RequestContext, endpoint: UpstreamEndpoint, events: ExchangeEvents) {
    this.ctx = ctx
    this.endpoint = endpoint
    this.#events = events
    this.startMark = performance.now()
    endpoint.active++
  }

  /** Ends the attempt's share of its endpoint's load and its span (once, whichever way). */
  #settle(err?: Error): void {
    if (this.#settled) return
    this.#settled = true
    this.endpoint.active--
    const span = this.span
    if (span === undefined) return
    this.span = undefined
    span.end(this.status, this.cancelled ?? err?.message)
  }

  cancel(reason: CancelReason): void {
    if (this.cancelled !== undefined) return
    this.cancelled = reason
    if (this.perTryTimer !== undefined) clearTimeout(this.perTryTimer)
    // Before the connection is up there is nothing to abort yet; onConnect does it.
    this.#abort?.(CANCELLED)
  }

  resume(): void {
    this.#resume?.()
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort
    this.connected = true
    if (this.cancelled !== undefined) abort(CANCELLED)
  }

  onHeaders(status: number, raw: Buffer[] | string[], resume: () => void): boolean {
    // 1xx responses (100 Continue) are handled between node and undici.
    if (status < 200) return true
    this.headersReceived = true
    this.status = status
    this.#resume = resume
    try {
      return this.#events.onHeaders(this, status, raw, resume)
    } catch (err) {
      this.#bug(err)
      return false
    }
  }

  onData(chunk: Buffer): boolean {
    const ctx = this.ctx
    ctx.bytesSent += chunk.length
    if (ctx.res.write(chunk)) return true
    // The client reads slower than the upstream sends: pause the upstream until it drains.
    ctx.res.once('drain', onResponseDrain)
    return false
  }

  onComplete(trailers?: Buffer[] | string[] | null): void {
    this.#settle()
    try {
      this.#events.onComplete(this, trailers ?? null)
    } catch (err) {
      this.#bug(err)
    }
  }

  onError(err: Error): void {
    this.#settle(err)
    try {
      this.#events.onError(this, err)
    } catch (bug) {
      this.#bug(bug)
    }
  }

  #bug(err: unknown): void {
    this.cancel('downstream')
    replyToBug(this.ctx.env, this.ctx, this.ctx.res, err)
  }

  /** undici 7 passes the chunk itself (its typings still say a size). */
  onBodySent(chunk: unknown): void {
    // A kept body was counted once when it was read; retries send it again.
    if (this.ctx.bodyBuffer !== undefined) return
    this.ctx.bytesReceived +=
      typeof chunk === 'number' ? chunk : (chunk as { readonly length: number }).length
  }
}

function onResponseDrain(this: { [CONTEXT]?: RequestContext }): void {
  this[CONTEXT]?.holds.attempt?.resume()
}
