/**
 * An ioredis client configured for a limiter. ioredis's defaults suit a cache, not a limiter: they
 * queue commands while disconnected, retry each command 20 times, have no command timeout and
 * resend unanswered commands after a reconnect — a limiter then hangs for seconds during an
 * outage and replays stale increments afterwards. Here every decision either gets its answer
 * within `commandTimeout` or fails at once, and nothing is queued or resent.
 */
import type { ConnectionOptions } from 'node:tls'
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis'
import type * as IORedis from 'ioredis'
import { lazyModule } from '../../lib/index.js'
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  leaseDeadlineMs,
  resolveRedisTarget,
  type RedisSettings,
  type RedisTarget,
} from './settings.js'

export type LimitRedisClient = Redis | Cluster

/** Loaded when a config first names Redis, not at start-up (lib/lazy-module.ts). */
export const ioredis = lazyModule<typeof IORedis>('ioredis')

/** Reconnect delay: 50 ms doubling to 1 s, plus up to 10 % jitter so replicas spread out. */
export function reconnectDelayMs(attempt: number): number {
  const base = Math.min(50 * 2 ** Math.max(0, attempt - 1), 1000)
  return Math.round(base * (1 + Math.random() * 0.1))
}

/** Options every connection gets, whatever the deployment. */
export function limiterConnectionOptions(settings: RedisSettings) {
  const tls = tlsOptions(settings)
  return {
    // The lease deadline: rate decisions have their own, shorter one (batch.ts).
    commandTimeout: leaseDeadlineMs(settings),
    connectTimeout: settings.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS,
    // Fail at once while disconnected instead of queueing (memory would grow during an outage).
    enableOfflineQueue: false,
    // A failed command is not retried: the caller decides locally instead.
    maxRetriesPerRequest: 0,
    // Commands in flight when a connection drops are failed, never sent again after reconnect.
    autoResendUnfulfilledCommands: false,
    // Connected explicitly by the store, so a bad address is reported once, at startup.
    lazyConnect: true,
    // Off: the limit store already sends one script call per batch (batch.ts), so ioredis's
    // own pipelining would only add a pipeline object and a tick to every call.
    enableAutoPipelining: false,
    retryStrategy: reconnectDelayMs,
    connectionName: 'portcullis-limits',
    ...(settings.username !== undefined ? { username: settings.username } : {}),
    ...(settings.password !== undefined ? { password: settings.password } : {}),
    ...(tls !== undefined ? { tls } : {}),
  } satisfies RedisOptions
}

export function createRedisClient(
  settings: RedisSettings,
  target: RedisTarget = resolveRedisTarget(settings),
): LimitRedisClient {
  const common = limiterConnectionOptions(settings)
  const { Cluster, Redis } = ioredis()
  switch (target.mode) {
    case 'standalone':
      return new Redis({
        ...common,
        host: target.host,
        port: target.port,
        db: target.db,
        ...(target.username !== undefined && settings.username === undefined
          ? { username: target.username }
          : {}),
        ...(target.password !== undefined && settings.password === undefined
          ? { password: target.password }
          : {}),
        ...(target.tls && common.tls === undefined ? { tls: {} } : {}),
      })
    case 'sentinel':
      return new Redis({
        ...common,
        sentinels: target.sentinels.map((e) => ({ host: e.host, port: e.port })),
        name: target.name,
        role: 'master',
        // Follows +switch-master at once instead of waiting for the old master to fail.
        failoverDetector: true,
        sentinelCommandTimeout: common.connectTimeout,
        ...(common.tls !== undefined
          ? { enableTLSForSentinelMode: true, sentinelTLS: common.tls }
          : {}),
      })
    case 'cluster':
      return new Cluster(
        target.nodes.map((e) => ({ host: e.host, port: e.port })),
        clusterOptions(common),
      )
  }
}

function clusterOptions(common: ReturnType<typeof limiterConnectionOptions>) {
  const {
    enableOfflineQueue: _queue,
    retryStrategy: _retry,
    lazyConnect: _lazy,
    enableAutoPipelining: _pipelining,
    ...redisOptions
  } = common
  return {
    enableOfflineQueue: false,
    lazyConnect: true,
    // On Redis Cluster the batch sends one call per key; calls to one node share a write.
    enableAutoPipelining: true,
    clusterRetryStrategy: reconnectDelayMs,
    // Redirections and cluster-down retries stay within a decision's command timeout.
    maxRedirections: 3,
    retryDelayOnFailover: 10,
    retryDelayOnClusterDown: 10,
    retryDelayOnTryAgain: 10,
    slotsRefreshTimeout: common.connectTimeout,
    redisOptions,
  } satisfies ClusterOptions
}

function tlsOptions(settings: RedisSettings): ConnectionOptions | undefined {
  const tls = settings.tls
  if (tls === undefined) return undefined
  return {
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
    ...(tls.key !== undefined ? { key: tls.key } : {}),
    ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
  }
}
