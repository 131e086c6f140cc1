/**
 * When the shared store counts as unreachable. One slow command (a GC pause in the gateway, a
 * busy Redis, a loaded machine) must not move a whole replica to local limits, so the store is
 * declared unreachable only after a pattern: `consecutive` failed calls in a row, or more than
 * `rate` of the calls that ended within the last `windowMs` failed, counting at least
 * `minCalls` of them. A call fails when it errors or misses the store deadline (the lease
 * deadline, not the much shorter rate-decision deadline: a rate decision decided locally while
 * its call is still on its way is not a failure of the store).
 */
import type { Clock } from './clock.js'

export interface FailurePatternOptions {
  /** Failed calls in a row that mean unreachable. Default 5. */
  readonly consecutive?: number
  /** Window of the failure rate, ms. Default 1000. */
  readonly windowMs?: number
  /** Failure share within the window that means unreachable. Default 0.5. */
  readonly rate?: number
  /** Calls the window needs before its rate counts. Default 10. */
  readonly minCalls?: number
}

export const DEFAULT_CONSECUTIVE_FAILURES = 5
export const DEFAULT_FAILURE_WINDOW_MS = 1000
export const DEFAULT_FAILURE_RATE = 0.5
export const DEFAULT_FAILURE_MIN_CALLS = 10

/**
 * Counts in two fixed half-windows (current and previous) rather than one entry per call, so a
 * busy store costs O(1) memory and time per call.
 */
export class FailurePattern {
  private readonly consecutive: number
  private readonly halfMs: number
  private readonly rate: number
  private readonly minCalls: number
  private inRow = 0
  private bucketStart = -Infinity
  private calls = 0
  private failures = 0
  private previousCalls = 0
  private previousFailures = 0

  constructor(
    private readonly clock: Clock,
    options: FailurePatternOptions = {},
  ) {
    this.consecutive = options.consecutive ?? DEFAULT_CONSECUTIVE_FAILURES
    this.halfMs = (options.windowMs ?? DEFAULT_FAILURE_WINDOW_MS) / 2
    this.rate = options.rate ?? DEFAULT_FAILURE_RATE
    this.minCalls = options.minCalls ?? DEFAULT_FAILURE_MIN_CALLS
  }

  /** Records one call's outcome; true when the failures now form the pattern. */
  record(ok: boolean): boolean {
    this.roll()
    this.calls++
    if (ok) {
      this.inRow = 0
      return false
    }
    this.failures++
    this.inRow++
    if (this.inRow >= this.consecutive) return true
    const calls = this.calls + this.previousCalls
    const failures = this.failures + this.previousFailures
    return calls >= this.minCalls && failures > calls * this.rate
  }

  /** Forgets the past (the store is back). */
  reset(): void {
    this.inRow = 0
    this.calls = this.failures = this.previousCalls = this.previousFailures = 0
    this.bucketStart = -Infinity
  }

  private roll(): void {
    const now = this.clock.now()
    if (now - this.bucketStart < this.halfMs) return
    if (now - this.bucketStart < 2 * this.halfMs) {
      this.previousCalls = this.calls
      this.previousFailures = this.failures
    } else {
      this.previousCalls = this.previousFailures = 0
    }
    this.calls = this.failures = 0
    this.bucketStart = now
  }
}
