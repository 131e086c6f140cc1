/**
 * A clock and scheduler that only move when told to, for tests of the in-process limiters:
 * `advance(ms)` moves time forward and runs every timer that falls due, in time order, each
 * seeing `now()` equal to its due time.
 */
import type { Cancel, Clock, Scheduler } from '../../src/state/clock.js'

export interface ManualClock extends Clock, Scheduler {
  advance(ms: number): void
}

interface Timer {
  due: number
  readonly period: number | undefined
  readonly fn: () => void
  cancelled: boolean
}

export function createManualClock(startMs = 0): ManualClock {
  let now = startMs
  const timers = new Set<Timer>()

  const schedule = (ms: number, fn: () => void, period: number | undefined): Cancel => {
    if (!(ms > 0)) throw new RangeError(`timer delay must be positive, got ${ms}`)
    const timer: Timer = { due: now + ms, period, fn, cancelled: false }
    timers.add(timer)
    return () => {
      timer.cancelled = true
      timers.delete(timer)
    }
  }

  const nextDue = (until: number): Timer | undefined => {
    let next: Timer | undefined
    for (const t of timers) if (t.due <= until && (next === undefined || t.due < next.due)) next = t
    return next
  }

  return {
    now: () => now,
    every: (ms, fn) => schedule(ms, fn, ms),
    after: (ms, fn) => schedule(ms, fn, undefined),
    advance(ms) {
      if (!(ms >= 0)) throw new RangeError(`cannot move time back (${ms})`)
      const until = now + ms
      // Bounded: each timer has a positive period, so a finite interval holds finitely many runs.
      for (let timer = nextDue(until); timer !== undefined; timer = nextDue(until)) {
        now = timer.due
        if (timer.period === undefined) timers.delete(timer)
        else timer.due += timer.period
        timer.fn()
      }
      now = until
    },
  }
}
