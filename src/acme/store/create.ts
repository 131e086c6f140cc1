/**
 * The store for GatewayConfig settings: Redis when `redis` is configured (standalone `url`; the
 * encryption key file is then required, since keys must not sit in Redis in the clear), else
 * the state directory on disk.
 */
import { readFileSync } from 'node:fs'
import type { RedisOptions } from 'ioredis'
import type * as IORedis from 'ioredis'
import type * as ir from '../../ir/index.js'
import { lazyModule, type Logger } from '../../lib/index.js'
import { createDiskStore } from './disk.js'
import { createRedisStore } from './redis.js'
import { sealerFromFile } from './sealed.js'
import type { AcmeStore } from './types.js'

export const DEFAULT_LOCK_TTL_MS = 30_000

/** Loaded when ACME certificates are kept in Redis, not at start-up (lib/lazy-module.ts). */
const ioredis = lazyModule<typeof IORedis>('ioredis')

export function createAcmeStore(
  redis: ir.RedisStoreSettings | undefined,
  log: Logger,
  hasCertificates = true,
): AcmeStore {
  // Redis for limits only: the disk store stays unused until a config has Certificates.
  if (redis === undefined || (redis.acme === undefined && !hasCertificates)) {
    return createDiskStore()
  }
  if (redis.url === undefined) {
    throw new Error('ACME certificates with Redis need redis.url (Sentinel and Cluster: not yet)')
  }
  const keyFile = redis.acme?.encryptionKeyFile
  if (keyFile === undefined) {
    throw new Error(
      'ACME certificates with Redis need redis.acme.encryptionKeyFile: private keys are stored sealed',
    )
  }
  const sealer = sealerFromFile(keyFile)
  const tls = redis.tls
  const options = {
    connectionName: 'portcullis-acme',
    connectTimeout: redis.connectTimeoutMs ?? 5000,
    commandTimeout: Math.max(redis.commandTimeoutMs ?? 5000, 2000),
    // Orders are retried by the manager with backoff; a command fails fast instead of queueing.
    maxRetriesPerRequest: 1,
    ...(redis.username !== undefined ? { username: redis.username } : {}),
    ...(redis.passwordFile !== undefined
      ? { password: readFileSync(redis.passwordFile, 'utf8').trim() }
      : {}),
    ...(tls !== undefined
      ? {
          tls: {
            ...(tls.caFile !== undefined ? { ca: readFileSync(tls.caFile, 'utf8') } : {}),
            ...(tls.certFile !== undefined ? { cert: readFileSync(tls.certFile, 'utf8') } : {}),
            ...(tls.keyFile !== undefined ? { key: readFileSync(tls.keyFile, 'utf8') } : {}),
            ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
          },
        }
      : {}),
  } satisfies RedisOptions
  const { Redis } = ioredis()
  const client = new Redis(redis.url, options)
  // A subscribed connection waits for messages: no command timeout on it.
  const { commandTimeout: _timeout, ...subscriberOptions } = options
  const subscriber = new Redis(redis.url, subscriberOptions)
  let lastWarned = 0
  const onError = (err: Error) => {
    // ioredis reconnects by itself; say so at most every 10 s instead of once per attempt.
    if (Date.now() - lastWarned < 10_000) return
    lastWarned = Date.now()
    log.warn('acme: redis unavailable; retrying', { error: err.message })
  }
  client.on('error', onError)
  subscriber.on('error', onError)
  return createRedisStore({
    client,
    subscriber,
    sealer,
    log,
    ...(redis.keyPrefix !== undefined ? { keyPrefix: redis.keyPrefix } : {}),
  })
}
