/**
 * The Redis-backed limit store. Its calls reject when Redis fails or is slower than the command
 * timeout; failure.ts wraps it to decide what a limit does then. Keys:
 *   <prefix>rate:<key>   GCRA theoretical arrival time (string, µs), TTL = until it is in the past
 *   <prefix>conc:<key>   sorted set of leases, TTL ≥ the longest lease in it
 */
import { silentLogger, type Logger } from '../../lib/index.js'
import { systemScheduler, type Scheduler } from '../clock.js'
import type { LimitStoreHealth } from '../ports.js'
import { createRedisClient, type LimitRedisClient } from './client.js'
import { RedisConcurrencyLimiter } from './concurrency.js'
import { RedisRateLimiter } from './rate-limiter.js'
import { defineLimitCommands } from './scripts.js'
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_KEY_PREFIX,
  resolveRedisTarget,
  type RedisSettings,
} from './settings.js'

export interface RedisLimitStoreDeps {
  readonly logger?: Logger
  /** Heartbeat timers. Default: real timers (unref'd). */
  readonly scheduler?: Scheduler
}

/** Hints from the connection, so the failure wrapper reacts before the next decision fails. */
export interface ConnectionWatcher {
  /** The connection dropped, or a heartbeat failed. */
  onDown(cause: unknown): void
  /** A connection is established and ready again. */
  onUp(): void
}

export interface RedisLimitStore {
  readonly rate: RedisRateLimiter
  readonly concurrency: RedisConcurrencyLimiter
  readonly client: LimitRedisClient
  /** The key prefix in use (tests and tools look keys up with it). */
  readonly keyPrefix: string
  /**
   * Connects; resolves true when Redis answered within the connect timeout, false otherwise
   * (ioredis keeps reconnecting in the background either way).
   */
  connect(): Promise<boolean>
  /** Resolves when Redis answers and held leases are renewed (or re-added); else rejects. */
  recover(): Promise<void>
  watch(watcher: ConnectionWatcher): void
  health(): LimitStoreHealth
  close(): Promise<void>
}

export function createRedisLimitStore(
  settings: RedisSettings,
  deps: RedisLimitStoreDeps = {},
): RedisLimitStore {
  const target = resolveRedisTarget(settings)
  const logger = deps.logger ?? silentLogger
  const keyPrefix = settings.keyPrefix ?? DEFAULT_KEY_PREFIX
  const client = defineLimitCommands(createRedisClient(settings, target))
  const watchers: ConnectionWatcher[] = []
  let closed = false

  // Without a listener an 'error' event would crash the process; what an outage means for the
  // limits is logged by the failure wrapper, once per transition.
  client.on('error', (err: unknown) => logger.debug('redis connection error', { err }))
  client.on('close', () => {
    if (!closed) for (const w of watchers) w.onDown(new Error('redis connection closed'))
  })
  client.on('ready', () => {
    for (const w of watchers) w.onUp()
  })

  const concurrency = new RedisConcurrencyLimiter({
    client,
    keyPrefix: `${keyPrefix}conc:`,
    scheduler: deps.scheduler ?? systemScheduler,
    perKeyHeartbeat: target.mode === 'cluster',
    onHeartbeat: ({ error, missing }) => {
      if (error !== undefined) {
        for (const w of watchers) w.onDown(error)
      } else if (missing > 0) {
        logger.debug('leases not renewed: their limits are full', { leases: missing })
      }
    },
  })

  return {
    rate: new RedisRateLimiter(client, `${keyPrefix}rate:`),
    concurrency,
    client,
    keyPrefix,
    async connect() {
      const timeoutMs = (settings.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS) * 2
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs)
        timer.unref()
      })
      const connected = client.connect().then(
        () => true,
        () => false,
      )
      try {
        return await Promise.race([connected, timeout])
      } finally {
        clearTimeout(timer)
      }
    },
    async recover() {
      await client.ping()
      await concurrency.heartbeat()
    },
    watch(watcher) {
      watchers.push(watcher)
    },
    health: () => (client.status === 'ready' ? 'ok' : 'degraded'),
    async close() {
      closed = true
      concurrency.close()
      // QUIT lets replies in flight (releases) arrive; it fails fast when disconnected.
      await client.quit().catch(() => undefined)
      client.disconnect()
    },
  }
}
