/**
 * Builds the limit store from GatewayConfig `redis` (memory store without it): reads the secret
 * files the settings name, and reports store health to the limit metrics. Settings are read at
 * startup; a reload that changes them is reported and takes effect on restart.
 */
import { readFileSync } from 'node:fs'
import type * as ir from '../ir/index.js'
import type { Logger } from '../lib/index.js'
import type { LimitObserver } from '../observe/index.js'
import { primaryChannel } from './workers/index.js'
import {
  createIpcLimitStore,
  createLimitStore,
  type ConcurrencyLimiter,
  type DecisionMode,
  type LimitStore,
  type RedisSettings,
} from '../state/index.js'

export async function createLimitStoreFor(
  settings: ir.GatewaySettings,
  deps: {
    readonly logger: Logger
    readonly observer: LimitObserver
    /** A cluster worker: without Redis, limits are asked of the primary (state/ipc). */
    readonly isWorker?: boolean
  },
): Promise<LimitStore> {
  const r = settings.redis
  const events = {
    onHealthChange: (h: 'ok' | 'degraded') => deps.observer.onStoreHealth(h),
    onDecisionWithoutStore: (kind: 'rate' | 'concurrency', mode: 'open' | 'closed') =>
      deps.observer.onDecisionWithoutStore(kind, mode),
    onDecision: (kind: 'rate' | 'concurrency', mode: DecisionMode) =>
      deps.observer.onLimitDecision?.(kind, mode),
    onMembership: (n: number) => deps.observer.onMembership?.(n),
  }
  if (r === undefined && deps.isWorker === true) return createWorkerLimitStore()
  if (r === undefined) return createLimitStore({}, { logger: deps.logger, events })
  return createLimitStore(
    {
      redis: toRedisSettings(r),
      ...(r.expectedReplicas !== undefined ? { expectedReplicas: r.expectedReplicas } : {}),
    },
    { logger: deps.logger, events },
  )
}

/** How long a crashed replica's connection-pool slots stay taken, unless `redis.leaseTtl` says. */
export const DEFAULT_POOL_LEASE_TTL_MS = 10_000

/**
 * With Redis, DestinationRule connection-pool limits hold across replicas through the store's
 * concurrency leases, and in cluster workers across workers through the primary; otherwise they
 * stay per process (undefined).
 */
export function sharedPoolLimitsFor(
  settings: ir.GatewaySettings,
  store: LimitStore,
  isWorker = false,
): { readonly limiter: ConcurrencyLimiter; readonly leaseTtlMs: number } | undefined {
  if (settings.redis === undefined && !isWorker) return undefined
  return {
    limiter: store.concurrency,
    leaseTtlMs: settings.redis?.leaseTtlMs ?? DEFAULT_POOL_LEASE_TTL_MS,
  }
}

/** The IPC store of a worker, fed the answers that arrive on the channel to the primary. */
function createWorkerLimitStore(): LimitStore {
  const store = createIpcLimitStore(primaryChannel)
  process.on('message', (m: unknown) => void store.receive(m))
  process.on('disconnect', () => store.disconnect())
  return store
}

function toRedisSettings(r: ir.RedisStoreSettings): RedisSettings {
  const tls = r.tls
  return {
    ...(r.url !== undefined ? { url: r.url } : {}),
    ...(r.sentinels !== undefined ? { sentinels: r.sentinels } : {}),
    ...(r.name !== undefined ? { name: r.name } : {}),
    ...(r.cluster !== undefined ? { cluster: r.cluster } : {}),
    ...(r.username !== undefined ? { username: r.username } : {}),
    ...(r.passwordFile !== undefined
      ? { password: readFileSync(r.passwordFile, 'utf8').trim() }
      : {}),
    ...(tls !== undefined
      ? {
          tls: {
            ...(tls.caFile !== undefined ? { ca: readFileSync(tls.caFile) } : {}),
            ...(tls.certFile !== undefined ? { cert: readFileSync(tls.certFile) } : {}),
            ...(tls.keyFile !== undefined ? { key: readFileSync(tls.keyFile) } : {}),
            ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
          },
        }
      : {}),
    ...(r.keyPrefix !== undefined ? { keyPrefix: r.keyPrefix } : {}),
    ...(r.commandTimeoutMs !== undefined ? { commandTimeout: r.commandTimeoutMs } : {}),
    ...(r.connectTimeoutMs !== undefined ? { connectTimeout: r.connectTimeoutMs } : {}),
    // Replicas beat like the leases: one that died is out of the membership within a TTL.
    membershipTtlMs: r.leaseTtlMs ?? DEFAULT_POOL_LEASE_TTL_MS,
  }
}
