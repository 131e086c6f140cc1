/**
 * The Redis-backed limit store. A rate decision not answered within the command timeout resolves
 * undefined; acquires wait up to the lease deadline; calls reject when Redis fails. failure.ts
 * wraps it to decide what a limit does then. Keys:
 *   <prefix>rate:<key>   GCRA theoretical arrival time (string, µs), TTL = until it is in the past
 *   <prefix>conc:<key>   sorted set of leases, TTL ≥ the longest lease in it
 *   <prefix>members      sorted set of live replicas (membership.ts)
 */
import { silentLogger, type Logger } from '../../lib/index.js'
import { systemClock, systemScheduler, type Clock, type Scheduler } from '../clock.js'
import { OverLimitCache } from '../over-limit-cache.js'
import type { LimitStoreHealth } from '../ports.js'
import { RedisBatch } from './batch.js'
import { createRedisClient, type LimitRedisClient } from './client.js'
import { RedisConcurrencyLimiter } from './concurrency.js'
import { RedisMembership } from './membership.js'
import { RedisRateLimiter } from './rate-limiter.js'
import { defineLimitCommands } from './scripts.js'
import {
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_KEY_PREFIX,
  DEFAULT_MEMBERSHIP_TTL_MS,
  leaseDeadlineMs,
  resolveRedisTarget,
  type RedisSettings,
} from './settings.js'

export interface RedisLimitStoreDeps {
  readonly logger?: Logger
  /** Heartbeat timers. Default: real timers (unref'd). */
  readonly scheduler?: Scheduler
  /** Local time for the over-limit cache. Default: the monotonic process clock. */
  readonly clock?: Clock
}

/** Hints from the connection, so the failure wrapper reacts before the next decision fails. */
export interface ConnectionWatcher {
  /** The connection dropped: nothing can be sent until it is back. */
  onDown(cause: unknown): void
  /** A connection is established and ready again. */
  onUp(): void
  /** One call (a batch, a heartbeat, a membership beat) answered (true) or failed (false). */
  onOutcome?(ok: boolean, cause?: unknown): void
  /** The number of live replicas changed. */
  onMembership?(size: number): void
}

export interface RedisLimitStore {
  readonly rate: RedisRateLimiter
  readonly concurrency: RedisConcurrencyLimiter
  readonly client: LimitRedisClient
  /** The key prefix in use (tests and tools look keys up with it). */
  readonly keyPrefix: string
  readonly membership: RedisMembership
  /**
   * Connects; resolves true when Redis answered within the connect timeout, false otherwise
   * (ioredis keeps reconnecting in the background either way).
   */
  connect(): Promise<boolean>
  /** Resolves when Redis answers and held leases are renewed (or re-added); else rejects. */
  recover(): Promise<void>
  watch(watcher: ConnectionWatcher): void
  /** Live replicas at the last membership beat (undefined before one was answered). */
  liveReplicas(): number | undefined
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
  const scheduler = deps.scheduler ?? systemScheduler
  const clock = deps.clock ?? systemClock
  const onOutcome = (ok: boolean, cause?: unknown): void => {
    for (const w of watchers) w.onOutcome?.(ok, cause)
  }
  const batch = new RedisBatch({
    client,
    rateDeadlineMs: settings.commandTimeout ?? DEFAULT_COMMAND_TIMEOUT_MS,
    leaseDeadlineMs: leaseDeadlineMs(settings),
    perKey: target.mode === 'cluster',
    onOutcome,
    now: () => clock.now(),
  })
  const membership = new RedisMembership({
    client,
    key: `${keyPrefix}members`,
    ttlMs: settings.membershipTtlMs ?? DEFAULT_MEMBERSHIP_TTL_MS,
    scheduler,
    onOutcome,
    onSize: (size) => {
      for (const w of watchers) w.onMembership?.(size)
    },
  })

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
    batch,
    keyPrefix: `${keyPrefix}conc:`,
    scheduler,
    perKeyHeartbeat: target.mode === 'cluster',
    onHeartbeat: ({ error, missing }) => {
      onOutcome(error === undefined, error)
      if (error === undefined && missing > 0) {
        logger.debug('leases not renewed: their limits are full', { leases: missing })
      }
    },
  })

  return {
    rate: new RedisRateLimiter(batch, `${keyPrefix}rate:`, new OverLimitCache(clock), clock),
    concurrency,
    client,
    keyPrefix,
    membership,
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
        const isUp = await Promise.race([connected, timeout])
        // The first beat tells how many replicas share the limits before any outage.
        if (isUp) await membership.start().catch(() => undefined)
        else void membership.start().catch(() => undefined)
        return isUp
      } finally {
        clearTimeout(timer)
      }
    },
    async recover() {
      await client.ping()
      await concurrency.heartbeat()
      await membership.beat()
    },
    watch(watcher) {
      watchers.push(watcher)
    },
    liveReplicas: () => membership.size,
    health: () => (client.status === 'ready' ? 'ok' : 'degraded'),
    async close() {
      closed = true
      concurrency.close()
      await membership.leave()
      // QUIT lets replies in flight (releases) arrive; it fails fast when disconnected.
      await client.quit().catch(() => undefined)
      client.disconnect()
    },
  }
}
