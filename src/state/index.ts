/**
 * state/: the limit stores behind state/ports.ts. The runtime builds one with `createLimitStore`;
 * the data plane only sees the ports. See README.md in this directory.
 */
import { silentLogger, type Logger } from '../lib/index.js'
import type { Clock, Scheduler } from './clock.js'
import { createFailoverLimitStore, type LimitStoreEvents } from './failure.js'
import { createMemoryLimitStore } from './memory/store.js'
import type { LimitStore } from './ports.js'
import { createRedisLimitStore } from './redis/store.js'
import type { RedisSettings } from './redis/settings.js'

export type * from './ports.js'
export type { Cancel, Clock, Scheduler } from './clock.js'
export { systemClock, systemScheduler } from './clock.js'
export { emissionIntervalUs } from './gcra.js'
export {
  createFailoverLimitStore,
  DEFAULT_PROBE_INITIAL_MS,
  DEFAULT_PROBE_MAX_MS,
  type DecisionMode,
  type FailoverOptions,
  type LimitStoreEvents,
  type SharedStore,
} from './failure.js'
export {
  createMemoryLimitState,
  createMemoryLimitStore,
  type MemoryLimitState,
  type MemoryLimitStateOptions,
  type MemoryLimitStore,
  type MemoryLimitStoreOptions,
} from './memory/store.js'
export {
  createRedisLimitStore,
  type ConnectionWatcher,
  type RedisLimitStore,
  type RedisLimitStoreDeps,
} from './redis/store.js'
export {
  createIpcLimitServer,
  createIpcLimitStore,
  isLimitRequest,
  type IpcEndpoint,
  type IpcLimitServer,
  type IpcLimitServerOptions,
  type IpcLimitStore,
  type LimitRequest,
} from './ipc/index.js'
export { limiterConnectionOptions, type LimitRedisClient } from './redis/client.js'
export {
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_KEY_PREFIX,
  DEFAULT_LEASE_DEADLINE_MS,
  DEFAULT_MEMBERSHIP_TTL_MS,
  resolveRedisTarget,
  type RedisEndpoint,
  type RedisSettings,
  type RedisTarget,
  type RedisTlsSettings,
} from './redis/settings.js'

export interface LimitStoreSettings {
  /** Shared limits through Redis. Without it, limits are kept in this process's memory. */
  readonly redis?: RedisSettings
  /**
   * Replicas sharing the Redis limits, overriding the membership Redis keeps. While Redis cannot
   * answer, each replica's local limiter admits ceil(limit / replicas) for fail-open rules.
   * Default: the live replicas the membership last saw (1 before it saw any).
   */
  readonly expectedReplicas?: number
  /** Most rate-limit keys an in-memory limiter keeps. Default 100 000. */
  readonly maxKeys?: number
}

export interface LimitStoreDeps {
  readonly logger?: Logger
  readonly events?: LimitStoreEvents
  /** For the in-memory limiter (tests). */
  readonly clock?: Clock
  readonly scheduler?: Scheduler
}

/**
 * The store the runtime hands to the data plane. With Redis: connects first (bounded by twice
 * the connect timeout); when Redis does not answer the store starts degraded and keeps probing.
 */
export async function createLimitStore(
  settings: LimitStoreSettings,
  deps: LimitStoreDeps = {},
): Promise<LimitStore> {
  const memoryOptions = {
    ...(deps.clock !== undefined ? { clock: deps.clock } : {}),
    ...(deps.scheduler !== undefined ? { scheduler: deps.scheduler } : {}),
    ...(settings.maxKeys !== undefined ? { maxKeys: settings.maxKeys } : {}),
  }
  if (settings.redis === undefined) return createMemoryLimitStore(memoryOptions)
  const logger = deps.logger ?? silentLogger
  const shared = createRedisLimitStore(settings.redis, {
    logger,
    ...(deps.scheduler !== undefined ? { scheduler: deps.scheduler } : {}),
    ...(deps.clock !== undefined ? { clock: deps.clock } : {}),
  })
  const healthy = await shared.connect()
  return createFailoverLimitStore({
    shared,
    local: createMemoryLimitStore(memoryOptions),
    healthy,
    logger,
    ...(settings.expectedReplicas !== undefined
      ? { expectedReplicas: settings.expectedReplicas }
      : {}),
    ...(deps.events !== undefined ? { events: deps.events } : {}),
    ...(deps.scheduler !== undefined ? { scheduler: deps.scheduler } : {}),
  })
}
