/**
 * Everything one request acquires, owned in one place and given back exactly once, whichever
 * way the request ends (response done, local reply, client gone, upstream reset, timeout, a
 * listener rejecting it, drain): the circuit-breaker slot and the retries it holds there, the
 * ticket under connection-pool limits shared with other replicas (its Redis leases), the route
 * timer, the one waiting timer (fault delay or retry backoff), the upstream attempt in flight and
 * the request's place under the overload guard's cap on requests in progress.
 * The request's close handler calls release(); nothing else decrements a counter.
 */
import type { ClusterRuntime } from '../upstream/cluster-runtime.js'
import type { AdmitCallback, PoolTicket } from '../upstream/shared-pool-limits.js'
import type { OverloadSignal } from './overload-signal.js'

/** Why the gateway ends an upstream attempt itself. */
export type CancelReason = 'retry' | 'route-timeout' | 'per-try-timeout' | 'downstream'

/** The upstream attempt in flight, as the rest of the request path sees it. */
export interface InFlightAttempt {
  cancel(reason: CancelReason): void
  /** Continues a paused upstream body once the downstream has drained. */
  resume(): void
}

type TimerCallback<T> = (owner: T) => void

export class RequestHolds {
  /** The cluster whose circuit breaker admitted the request. */
  #breaker: ClusterRuntime | undefined = undefined
  #retries = 0
  #ticket: PoolTicket | undefined = undefined
  #routeTimer: NodeJS.Timeout | undefined = undefined
  #waitTimer: NodeJS.Timeout | undefined = undefined
  /** The guard whose active-request count includes this request. */
  #activeUnder: OverloadSignal | undefined = undefined
  #released = false
  /** The upstream attempt in flight, cancelled if the request ends before it does. */
  attempt: InFlightAttempt | undefined = undefined

  /** The circuit breaker of `cluster` admits the request (false: 503 UO). */
  admit(cluster: ClusterRuntime): boolean {
    if (this.#released || !cluster.admit()) return false
    this.#breaker = cluster
    return true
  }

  /** Counts the request as in progress under the guard's cap until release. */
  countActive(guard: OverloadSignal): void {
    if (this.#released || this.#activeUnder !== undefined) return
    guard.activeRequests++
    this.#activeUnder = guard
  }

  get admittedBy(): ClusterRuntime | undefined {
    return this.#breaker
  }

  /** One more retry under the admitting cluster's maxRetries (false: no retry). */
  admitRetry(): boolean {
    const cluster = this.#breaker
    if (this.#released || cluster === undefined || !cluster.admitRetry()) return false
    this.#retries++
    return true
  }

  /** Waits for a place under the shared pool limits; `done` is never called after release. */
  enterShared<T>(cluster: ClusterRuntime, owner: T, done: AdmitCallback<T>): boolean {
    const limits = cluster.sharedLimits
    if (limits === undefined) return false
    this.#ticket = limits.enter(owner, done)
    return true
  }

  startRouteTimer<T>(ms: number, onTimeout: TimerCallback<T>, owner: T): void {
    if (this.#released) return
    this.#routeTimer = setTimeout(onTimeout, ms, owner)
  }

  /** The route timer fired or the response is complete. */
  clearRouteTimer(): void {
    if (this.#routeTimer === undefined) return
    clearTimeout(this.#routeTimer)
    this.#routeTimer = undefined
  }

  /** Calls `then(owner)` after `ms` (a fault delay, a retry backoff); one such wait at a time. */
  wait<T>(ms: number, then: TimerCallback<T>, owner: T): void {
    if (this.#released) return
    if (this.#waitTimer !== undefined) clearTimeout(this.#waitTimer)
    this.#waitTimer = setTimeout(RequestHolds.#waited, ms, this, then, owner)
  }

  /** Stops the timers and the attempt: the gateway ends the request itself. */
  abandon(reason: CancelReason): void {
    this.clearRouteTimer()
    if (this.#waitTimer !== undefined) clearTimeout(this.#waitTimer)
    this.#waitTimer = undefined
    const attempt = this.attempt
    this.attempt = undefined
    attempt?.cancel(reason)
  }

  static #waited<T>(holds: RequestHolds, then: TimerCallback<T>, owner: T): void {
    holds.#waitTimer = undefined
    then(owner)
  }

  /** Gives everything back; later calls do nothing. */
  release(): void {
    if (this.#released) return
    this.#released = true
    this.abandon('downstream')
    const breaker = this.#breaker
    if (breaker !== undefined) {
      breaker.leave()
      if (this.#retries > 0) breaker.leaveRetries(this.#retries)
    }
    this.#ticket?.release()
    this.#ticket = undefined
    const guard = this.#activeUnder
    this.#activeUnder = undefined
    if (guard !== undefined) guard.activeRequests--
  }
}
