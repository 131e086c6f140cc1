/**
 * GCRA (generic cell rate algorithm) with burst = limit, in whole microseconds. The in-memory
 * limiter runs this arithmetic in TypeScript and the Redis script (redis/scripts.ts) runs the same
 * arithmetic in Lua; state/README.md derives the admission bound.
 *
 *   T     = ceil(period / limit)        emission interval, µs (≥ 1)
 *   B     = limit · T                   how far the theoretical arrival time may run ahead of now
 *   TAT   = the key's theoretical arrival time; a missing key or a TAT in the past means "now"
 *   admit cost c at now  ⇔  c ≤ limit  and  max(TAT, now) + c·T − now ≤ B
 *   on admission: TAT ← max(TAT, now) + c·T     (stored until it is in the past, then dropped)
 *
 * Rounding T up to a whole microsecond keeps every value an exact integer (no drift), keeps the
 * burst exactly `limit`, and makes the sustained rate at most `limit / period`.
 */
import type { RateRule } from './ports.js'

/** The emission interval T of a rule, in whole microseconds. */
export function emissionIntervalUs(rule: RateRule): number {
  return Math.max(1, Math.ceil(Math.round(rule.periodMs * 1000) / rule.limit))
}

/** Throws on a rule or cost no limiter can honour; config validation rejects these earlier. */
export function checkRateRequest(rule: RateRule, cost: number): void {
  if (!Number.isInteger(rule.limit) || rule.limit < 1) {
    throw new RangeError(`rate limit must be a positive integer, got ${rule.limit}`)
  }
  if (!(rule.periodMs > 0) || !Number.isFinite(rule.periodMs)) {
    throw new RangeError(`rate period must be a positive number of ms, got ${rule.periodMs}`)
  }
  if (!Number.isInteger(cost) || cost < 0) {
    throw new RangeError(`rate cost must be a non-negative integer, got ${cost}`)
  }
}
