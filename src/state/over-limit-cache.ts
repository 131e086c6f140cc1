/**
 * Keys the shared store said are over their limit, denied locally until the time the store gave
 * (envoyproxy/ratelimit's over-limit cache, made exact for GCRA): a refusal of cost c means the
 * key's theoretical arrival time (TAT) is more than `burst − c·T` ahead of the store's clock,
 * and a TAT only moves forward, so until `retryAfterMs` has passed every request of cost ≥ c is
 * refused by the store too. The wait is counted from when the request was sent, which is never
 * after the store's clock read it, so a local refusal never refuses what the store would admit.
 *
 * Bounded without timers: entries are checked on use, expired ones swept when the Map has
 * doubled since the last sweep, and the oldest dropped beyond `maxKeys` (dropping one only
 * sends that key's next request to the store).
 */
import type { Clock } from './clock.js'
import type { RateDecision } from './ports.js'

const MIN_SWEEP_SIZE = 1024
const DEFAULT_MAX_KEYS = 100_000

interface Refusal {
  /** Local clock, ms: no request of at least `cost` fits before this. */
  readonly retryAt: number
  /** Local clock, ms: the bucket is full again (RateLimit-Reset). */
  readonly resetAt: number
  readonly cost: number
  readonly limit: number
}

export class OverLimitCache {
  private readonly refusals = new Map<string, Refusal>()
  private sweepAtSize = MIN_SWEEP_SIZE

  constructor(
    private readonly clock: Clock,
    private readonly maxKeys = DEFAULT_MAX_KEYS,
  ) {}

  /** The local refusal for `key`, or undefined when the store must decide. */
  check(key: string, cost: number, limit: number): RateDecision | undefined {
    if (this.refusals.size === 0 || cost === 0) return undefined
    const r = this.refusals.get(key)
    // A reload that changed the limit: the store decides again.
    if (r === undefined || r.limit !== limit) return undefined
    const now = this.clock.now()
    if (now >= r.retryAt) {
      this.refusals.delete(key)
      return undefined
    }
    if (cost < r.cost) return undefined
    return {
      allowed: false,
      limit: r.limit,
      remaining: 0,
      resetMs: Math.max(0, r.resetAt - now),
      retryAfterMs: r.retryAt - now,
      error: false,
    }
  }

  /** Remembers a refusal the store answered to a request sent at `sentAt` (local clock). */
  remember(key: string, cost: number, sentAt: number, d: RateDecision): void {
    if (d.allowed || d.error || d.retryAfterMs <= 0 || cost === 0) return
    const known = this.refusals.get(key)
    if (known !== undefined && known.cost < cost) return
    if (this.refusals.size >= this.sweepAtSize) this.sweep()
    this.refusals.set(key, {
      retryAt: sentAt + d.retryAfterMs,
      resetAt: sentAt + d.resetMs,
      cost,
      limit: d.limit,
    })
  }

  private sweep(): void {
    const now = this.clock.now()
    for (const [key, r] of this.refusals) if (r.retryAt <= now) this.refusals.delete(key)
    for (const key of this.refusals.keys()) {
      if (this.refusals.size < this.maxKeys) break
      this.refusals.delete(key)
    }
    this.sweepAtSize = Math.max(MIN_SWEEP_SIZE, this.refusals.size * 2)
  }
}
