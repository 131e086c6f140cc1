/**
 * The fleet's ACME state in Redis, shared by every replica. The order lock is a lease
 * (`SET PX` on a key holding `<fence>:<owner>`, the fence an `INCR` counter): it expires if its
 * holder dies, and the certificate is written by a script that first checks the lease is still
 * the writer's, so a holder that stalled past its lease cannot overwrite its successor's
 * certificate. Private keys (account and certificate) are sealed (sealed.ts); a saved
 * certificate is announced on a channel so the other replicas install it at once (they also
 * poll, for a missed message). Keys of one certificate share a hash tag.
 */
import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Logger } from '../../lib/index.js'
import { CHALLENGE_TTL_MS, type ChallengeStore } from '../challenge-store.js'
import type { Sealer } from './sealed.js'
import type { AcmeStore, OrderLock } from './types.js'

const ACQUIRE = `if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local f = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], f .. ':' .. ARGV[1], 'PX', ARGV[2])
return f`
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`
const WRITE = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'cert', ARGV[2], 'key', ARGV[3], 'fence', ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1`

export interface RedisStoreDeps {
  readonly client: Redis
  /** A second connection for the certificate channel (a subscribed one sends nothing else). */
  readonly subscriber: Redis
  readonly sealer: Sealer
  readonly keyPrefix?: string
  readonly log: Logger
}

export function createRedisStore(deps: RedisStoreDeps): AcmeStore {
  const { client, sealer } = deps
  const p = `${deps.keyPrefix ?? 'portcullis:'}acme:`
  const channel = `${p}certificates`
  const owner = randomBytes(9).toString('base64url')
  const lockKey = (id: string) => `${p}{${id}}:lock`
  const certKey = (id: string) => `${p}{${id}}:cert`
  const listeners: ((id: string) => void)[] = []
  deps.subscriber.on('message', (ch: string, id: string) => {
    if (ch === channel) for (const l of listeners) l(id)
  })
  const subscribed = deps.subscriber.subscribe(channel).catch((err: unknown) => {
    deps.log.warn('acme: cannot subscribe to certificate announcements; polling only', {
      error: err instanceof Error ? err.message : String(err),
    })
  })

  const challenges: ChallengeStore = {
    async putHttp01(token, keyAuthorization) {
      await client.set(`${p}http01:${token}`, keyAuthorization, 'PX', CHALLENGE_TTL_MS)
    },
    async http01(token) {
      return (await client.get(`${p}http01:${token}`)) ?? undefined
    },
    async deleteHttp01(token) {
      await client.del(`${p}http01:${token}`)
    },
    // The challenge certificate's key is single-use and proves nothing after validation.
    async putTlsAlpn01(name, challenge) {
      await client.set(`${p}alpn:${name}`, JSON.stringify(challenge), 'PX', CHALLENGE_TTL_MS)
    },
    async tlsAlpn01(name) {
      const v = await client.get(`${p}alpn:${name}`)
      return v !== null ? (JSON.parse(v) as { cert: string; key: string }) : undefined
    },
    async deleteTlsAlpn01(name) {
      await client.del(`${p}alpn:${name}`)
    },
  }

  function lockFor(id: string, fence: number, ttlMs: number): OrderLock & { value: string } {
    const value = `${fence}:${owner}`
    return {
      fence,
      value,
      async renew() {
        return Number(await client.eval(RENEW, 1, lockKey(id), value, ttlMs)) === 1
      },
      async stillHeld() {
        return (await client.get(lockKey(id))) === value
      },
      async release() {
        await client.eval(RELEASE, 1, lockKey(id), value)
      },
    }
  }

  return {
    kind: 'redis',
    async accountKey(issuer, create) {
      const name = `${p}account:${issuer.id}:${issuer.directoryUrl}`
      const existing = await client.get(name)
      if (existing !== null) return sealer.open(existing, name)
      // Two replicas starting together both create one; the first saved is everyone's.
      await client.set(name, sealer.seal(await create(), name), 'NX')
      const saved = await client.get(name)
      if (saved === null) throw new Error('the account key was not saved')
      return sealer.open(saved, name)
    },
    async readCertificate(spec) {
      const name = certKey(spec.id)
      const h = await client.hgetall(name)
      if (h['cert'] === undefined || h['key'] === undefined) return undefined
      return { cert: h['cert'], key: sealer.open(h['key'], name) }
    },
    async writeCertificate(spec, issued, lock) {
      const name = certKey(spec.id)
      const value = `${lock.fence}:${owner}`
      const sealedKey = sealer.seal(issued.key, name)
      const args = [value, issued.cert, sealedKey, String(lock.fence), channel, spec.id]
      return Number(await client.eval(WRITE, 2, lockKey(spec.id), name, ...args)) === 1
    },
    async acquire(id, ttlMs) {
      const fence = Number(
        await client.eval(ACQUIRE, 2, lockKey(id), `${p}{${id}}:fence`, owner, ttlMs),
      )
      return fence > 0 ? lockFor(id, fence, ttlMs) : undefined
    },
    challenges,
    onCertificate(listener) {
      listeners.push(listener)
    },
    async close() {
      await subscribed
      deps.subscriber.disconnect()
      client.disconnect()
    },
  }
}
