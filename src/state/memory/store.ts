/**
 * The in-memory limit store: exact for one process, no I/O, decisions answered synchronously.
 * Several store instances may share one `MemoryLimitState` (what replicas sharing Redis look
 * like, in one process).
 */
import type { Clock, Scheduler } from '../clock.js'
import { systemClock, systemScheduler } from '../clock.js'
import type { LimitStore } from '../ports.js'
import { MemoryConcurrencyLimiter } from './concurrency.js'
import { LeaseTable } from './lease-table.js'
import { DEFAULT_MAX_KEYS, RateTable } from './rate-table.js'

export interface MemoryLimitState {
  readonly clock: Clock
  readonly rates: RateTable
  readonly leases: LeaseTable
}

export interface MemoryLimitStateOptions {
  /** Default: the monotonic process clock. */
  readonly clock?: Clock
  /** Most rate-limit keys kept (least recently used dropped beyond it). Default 100 000. */
  readonly maxKeys?: number
}

export function createMemoryLimitState(options: MemoryLimitStateOptions = {}): MemoryLimitState {
  const clock = options.clock ?? systemClock
  return {
    clock,
    rates: new RateTable(clock, options.maxKeys ?? DEFAULT_MAX_KEYS),
    leases: new LeaseTable(clock),
  }
}

export interface MemoryLimitStoreOptions extends MemoryLimitStateOptions {
  /** Shared state; when given, `clock` and `maxKeys` come from it. */
  readonly state?: MemoryLimitState
  /** Heartbeat timers. Default: real timers (unref'd). */
  readonly scheduler?: Scheduler
}

/** The store handle the runtime and the failure wrapper use (memory-specific extras). */
export interface MemoryLimitStore extends LimitStore {
  readonly rate: RateTable
  readonly concurrency: MemoryConcurrencyLimiter
}

export function createMemoryLimitStore(options: MemoryLimitStoreOptions = {}): MemoryLimitStore {
  const state = options.state ?? createMemoryLimitState(options)
  const concurrency = new MemoryConcurrencyLimiter(
    state.leases,
    options.scheduler ?? systemScheduler,
  )
  return {
    rate: state.rates,
    concurrency,
    health: () => 'ok',
    close() {
      concurrency.close()
      return Promise.resolve()
    },
  }
}
