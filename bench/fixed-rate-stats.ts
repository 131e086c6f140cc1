// The pure parts of the fixed-rate load client (bench/fixed-rate.ts): when each request is due,
// how many to send on a late wake-up, and the latency percentiles, kept apart so they can be
// tested without a network.

/** Request `index` (from 0) is due `index` intervals after the start: R requests/s exactly. */
export function dueAtNs(startNs: bigint, rate: number, index: number): bigint {
  return startNs + BigInt(Math.floor((index * 1e9) / rate))
}

/**
 * How many requests to send now: every one due by `nowNs` that has not been sent, but at most
 * `maxBurst`, so a loop that woke up late catches up over several turns instead of hitting the
 * target with one burst. Never more than what is left of `total`.
 */
export function sendsDue(
  startNs: bigint,
  rate: number,
  sent: number,
  total: number,
  nowNs: bigint,
  maxBurst: number,
): number {
  if (nowNs < startNs || sent >= total) return 0
  const elapsed = Number(nowNs - startNs)
  // Requests 0..k are due once k intervals have passed.
  const due = Math.min(total, Math.floor((elapsed * rate) / 1e9) + 1)
  return Math.max(0, Math.min(due - sent, maxBurst))
}

/** A burst window: how many sends any 1 ms may hold, whatever calls the loop makes in it. */
export interface BurstWindow {
  startNs: bigint
  sent: number
}

const WINDOW_NS = 1_000_000n

/**
 * How many of `wanted` sends the current 1 ms window still allows: `maxBurst`, or the rate's own
 * share of a millisecond when that is more, so catching up never sends a burst on top of the
 * schedule. Opens a new window when the last one has passed; counts what it allows.
 */
export function takeFromWindow(
  window: BurstWindow,
  nowNs: bigint,
  wanted: number,
  rate: number,
  maxBurst: number,
): number {
  if (nowNs - window.startNs >= WINDOW_NS) {
    window.startNs = nowNs
    window.sent = 0
  }
  const cap = Math.max(maxBurst, Math.ceil(rate / 1000))
  const n = Math.max(0, Math.min(wanted, cap - window.sent))
  window.sent += n
  return n
}

/** Nanoseconds until the next unsent request is due (0 when it already is, or none is left). */
export function nsUntilNext(
  startNs: bigint,
  rate: number,
  sent: number,
  total: number,
  nowNs: bigint,
): number {
  if (sent >= total) return 0
  const next = dueAtNs(startNs, rate, sent)
  return next > nowNs ? Number(next - nowNs) : 0
}

/**
 * Nearest-rank percentile of an ascending array: the smallest value with at least p % of the
 * values at or below it.
 */
export function percentile(sortedAscending: ArrayLike<number>, p: number): number {
  const n = sortedAscending.length
  if (n === 0) return Number.NaN
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)))
  return sortedAscending[rank - 1]!
}

export interface LatencySummary {
  /** Milliseconds, to 0.01 ms. */
  p50Ms: number
  p90Ms: number
  p99Ms: number
  maxMs: number
}

const toMs = (micros: number): number => Math.round(micros / 10) / 100

/** Percentiles of latencies given in microseconds, in milliseconds rounded to 0.01 ms. */
export function summarizeMicros(latenciesMicros: Float64Array): LatencySummary {
  const sorted = Float64Array.from(latenciesMicros).sort()
  if (sorted.length === 0) return { p50Ms: 0, p90Ms: 0, p99Ms: 0, maxMs: 0 }
  return {
    p50Ms: toMs(percentile(sorted, 50)),
    p90Ms: toMs(percentile(sorted, 90)),
    p99Ms: toMs(percentile(sorted, 99)),
    maxMs: toMs(sorted[sorted.length - 1]!),
  }
}
