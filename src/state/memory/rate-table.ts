/**
 * Exact in-process GCRA: one theoretical arrival time (TAT, µs) per key in a Map. See gcra.ts for
 * the arithmetic, which the Redis script repeats.
 *
 * Memory stays bounded without a timer: a TAT in the past means the same as no entry, so such
 * entries are swept whenever the Map has doubled since the last sweep (amortised O(1) per
 * decision), and past `maxKeys` entries the least recently used one is dropped (each use moves
 * its key to the end of the Map's order). Dropping a live entry forgets what that
 * key consumed, so `maxKeys` is a cap against floods of distinct keys, set well above normal use.
 */
import type { Clock } from '../clock.js'
import { checkRateRequest, emissionIntervalUs } from '../gcra.js'
import type { RateDecision, RateRule } from '../ports.js'

export const DEFAULT_MAX_KEYS = 100_000
const MIN_SWEEP_SIZE = 1024

export class RateTable {
  private readonly tats = new Map<string, number>()
  private sweepAtSize = MIN_SWEEP_SIZE

  constructor(
    private readonly clock: Clock,
    private readonly maxKeys: number = DEFAULT_MAX_KEYS,
  ) {
    if (!Number.isInteger(maxKeys) || maxKeys < 1) {
      throw new RangeError(`maxKeys must be a positive integer, got ${maxKeys}`)
    }
  }

  /** Entries held, expired ones not yet swept included. */
  get size(): number {
    return this.tats.size
  }

  consume(key: string, rule: RateRule, cost = 1): RateDecision {
    checkRateRequest(rule, cost)
    const limit = rule.limit
    const interval = emissionIntervalUs(rule)
    const burst = interval * limit
    const now = Math.floor(this.clock.now() * 1000)
    const stored = this.tats.get(key)
    const tat = stored !== undefined && stored > now ? stored : now
    const newTat = tat + cost * interval
    if (cost <= limit && newTat - now <= burst) {
      if (newTat > now) this.store(key, newTat, stored !== undefined)
      return {
        allowed: true,
        limit,
        remaining: Math.floor((burst - (newTat - now)) / interval),
        resetMs: (newTat - now) / 1000,
        retryAfterMs: 0,
        error: false,
      }
    }
    // A refused key is in use too: keep it at the recent end, away from eviction.
    if (stored !== undefined && stored > now) this.store(key, stored, true)
    // A cost above the burst never fits; answer as if it were a whole period away.
    const retryAfterUs = cost <= limit ? newTat - burst - now : burst
    return {
      allowed: false,
      limit,
      remaining: Math.max(0, Math.floor((burst - (tat - now)) / interval)),
      resetMs: (tat - now) / 1000,
      retryAfterMs: retryAfterUs / 1000,
      error: false,
    }
  }

  private store(key: string, tat: number, existed: boolean): void {
    if (existed) {
      this.tats.delete(key)
      this.tats.set(key, tat)
      return
    }
    this.tats.set(key, tat)
    if (this.tats.size > this.maxKeys) {
      // Map iteration follows insertion order and updates re-insert, so the first key is the
      // least recently used one.
      for (const oldest of this.tats.keys()) {
        this.tats.delete(oldest)
        break
      }
    } else if (this.tats.size >= this.sweepAtSize) {
      this.sweep()
    }
  }

  private sweep(): void {
    const now = Math.floor(this.clock.now() * 1000)
    for (const [key, tat] of this.tats) if (tat <= now) this.tats.delete(key)
    this.sweepAtSize = Math.max(MIN_SWEEP_SIZE, this.tats.size * 2)
  }
}
