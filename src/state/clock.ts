/**
 * Time for the in-process limiters, injectable so tests control it. Redis-backed limits never
 * use it for decisions: their scripts read the Redis server's clock.
 */
import { performance } from 'node:perf_hooks'

/** Milliseconds, monotonic (fractions allowed). Only differences matter. */
export interface Clock {
  now(): number
}

/** Cancels a scheduled callback; calling it twice is harmless. */
export type Cancel = () => void

/** Timers the limiters use (heartbeats, probes), replaceable together with the clock. */
export interface Scheduler {
  /** Runs `fn` every `ms` until cancelled. Never keeps the process alive. */
  every(ms: number, fn: () => void): Cancel
  /** Runs `fn` once after `ms` unless cancelled. Never keeps the process alive. */
  after(ms: number, fn: () => void): Cancel
}

export const systemClock: Clock = { now: () => performance.now() }

export const systemScheduler: Scheduler = {
  every(ms, fn) {
    const timer = setInterval(fn, ms)
    timer.unref()
    return () => clearInterval(timer)
  },
  after(ms, fn) {
    const timer = setTimeout(fn, ms)
    timer.unref()
    return () => clearTimeout(timer)
  },
}
