/**
 * Rate slices: for a large limit, a worker asks the primary for a slice of units at once and
 * spends it locally, so most requests cost no IPC message and the primary (which shares the
 * CPUs with its workers) decides a thousandth of them.
 *
 * A slice is `floor(limit / 1024)` units (rules of 1 024 or more per period; smaller ones are
 * decided one request at a time, exactly as before). The primary debits the whole slice from the
 * key's GCRA bucket when it grants it, and the worker may spend it only for `slice · T` after
 * the grant (T the rule's emission interval: the time the bucket needs to earn the slice back);
 * what is left then is dropped. Every unit admitted in a window [a, b] of length W was therefore
 * granted in [a − slice·T, b], a window of W + slice·T, so at most
 *
 *   L + floor(W / T) + slice          (the GCRA bound of state/README.md, plus one slice)
 *
 * units are admitted in any window W, whatever the number of workers: about 0.1 % above the
 * limit, never more. Units dropped unspent are the cost: at most one slice per worker and key
 * per slice·T.
 */
import { emissionIntervalUs } from '../gcra.js'
import type { RateDecision, RateRule } from '../ports.js'

/** Rules below this many units per period are not sliced. */
export const SLICE_MIN_LIMIT = 1024
const SLICES_PER_LIMIT = 1024
/** Keys with a slice held at once; beyond it, new keys are decided one request at a time. */
export const MAX_SLICED_KEYS = 10_000

/** The slice size of a rule, 0 when its requests are decided one at a time. */
export function sliceSize(rule: RateRule): number {
  return rule.limit < SLICE_MIN_LIMIT ? 0 : Math.floor(rule.limit / SLICES_PER_LIMIT)
}

/** How long a granted slice may be spent, in ms: slice · T. */
export function sliceLifetimeMs(rule: RateRule, size: number): number {
  return (size * emissionIntervalUs(rule)) / 1000
}

interface Slice {
  remaining: number
  readonly expiresAt: number
  /** The primary's answer to the grant: limit, and what was left after it. */
  readonly granted: RateDecision
}

/** The slices one worker holds, by key. */
export class SliceBook {
  readonly #slices = new Map<string, Slice>()

  get size(): number {
    return this.#slices.size
  }

  /** `cost` units from the key's slice, if one is held, unexpired and large enough. */
  take(key: string, cost: number, now: number): RateDecision | undefined {
    const slice = this.#slices.get(key)
    if (slice === undefined) return undefined
    if (now >= slice.expiresAt) {
      this.#slices.delete(key)
      return undefined
    }
    if (slice.remaining < cost) return undefined
    slice.remaining -= cost
    return spent(slice)
  }

  /** Whether a new key may get a slice (bounded memory: expired slices are swept first). */
  hasRoom(now: number): boolean {
    if (this.#slices.size < MAX_SLICED_KEYS) return true
    for (const [key, slice] of this.#slices) if (now >= slice.expiresAt) this.#slices.delete(key)
    return this.#slices.size < MAX_SLICED_KEYS
  }

  /** The primary granted `size` units at `grantedAt`; `cost` of them are spent at once. */
  grant(
    key: string,
    size: number,
    cost: number,
    granted: RateDecision,
    grantedAt: number,
    lifetimeMs: number,
  ): RateDecision {
    const slice: Slice = { remaining: size - cost, expiresAt: grantedAt + lifetimeMs, granted }
    this.#slices.set(key, slice)
    return spent(slice)
  }
}

/** An admission from a slice: what the bucket would show had the units been asked one by one. */
function spent(slice: Slice): RateDecision {
  const g = slice.granted
  return {
    allowed: true,
    limit: g.limit,
    remaining: Math.min(g.limit, g.remaining + slice.remaining),
    resetMs: g.resetMs,
    retryAfterMs: 0,
    error: false,
  }
}
