/**
 * Concurrency leases in Redis: a sorted set per limit key (scores are expiries in Redis time).
 * acquire (drop expired, count, add if under max) and release (ZREM) are operations of the
 * turn's micro-batch (batch.ts), so concurrent requests share one script call; the leases this
 * store holds are renewed in one batch per heartbeat, so a replica that dies stops renewing and
 * its slots come back within the lease TTL.
 */
import { randomUUID } from 'node:crypto'
import type { Scheduler } from '../clock.js'
import type { RedisBatch } from './batch.js'
import { LeaseKeeper } from '../lease-keeper.js'
import { checkAcquire } from '../lease-options.js'
import type { AcquireOptions, ConcurrencyLimiter, Lease } from '../ports.js'
import type { ScriptedClient } from './scripts.js'

const DONE: Promise<void> = Promise.resolve()
/** Leases per heartbeat script call, so one call never blocks Redis for long. */
const HEARTBEAT_BATCH = 1000

class RedisLease implements Lease {
  released = false

  constructor(
    readonly key: string,
    readonly redisKey: string,
    readonly id: string,
    readonly max: number,
    readonly ttlMs: number,
    private readonly owner: RedisConcurrencyLimiter,
  ) {}

  release(): Promise<void> {
    if (this.released) return DONE
    this.released = true
    return this.owner.forget(this)
  }
}

interface KeyBatch {
  readonly redisKey: string
  max: number
  readonly leases: RedisLease[]
}

export interface RedisConcurrencyOptions {
  readonly client: ScriptedClient
  readonly batch: RedisBatch
  readonly keyPrefix: string
  readonly scheduler: Scheduler
  /** Redis Cluster: one heartbeat call per key (keys live in different slots). */
  readonly perKeyHeartbeat: boolean
  /** A heartbeat failed or left leases out (their sets were full). */
  readonly onHeartbeat: (outcome: { error?: unknown; missing: number }) => void
}

export class RedisConcurrencyLimiter implements ConcurrencyLimiter {
  private readonly keeper: LeaseKeeper<RedisLease>
  private readonly idPrefix = randomUUID()
  private lastId = 0
  private heartbeatInFlight: Promise<number> | undefined

  constructor(private readonly options: RedisConcurrencyOptions) {
    this.keeper = new LeaseKeeper(options.scheduler, () => {
      if (this.heartbeatInFlight !== undefined) return
      this.heartbeat().then(
        (missing) => this.options.onHeartbeat({ missing }),
        (error: unknown) => this.options.onHeartbeat({ error, missing: 0 }),
      )
    })
  }

  /** Rejects when Redis fails or does not answer within the lease deadline (command timeout). */
  async acquire(key: string, max: number, options: AcquireOptions): Promise<Lease | undefined> {
    checkAcquire(max, options)
    this.lastId += 1
    const id = `${this.idPrefix}:${this.lastId}`
    const redisKey = this.options.keyPrefix + key
    const ttl = options.leaseTtlMs
    if (!(await this.options.batch.acquire(redisKey, max, ttl, id))) return undefined
    const lease = new RedisLease(key, redisKey, id, max, ttl, this)
    this.keeper.add(lease)
    return lease
  }

  count(key: string): Promise<number> {
    return this.options.client.limitCount(this.options.keyPrefix + key)
  }

  /** Removes the lease; when Redis cannot be reached it expires on its own after its TTL. */
  forget(lease: RedisLease): Promise<void> {
    this.keeper.delete(lease)
    return this.options.batch.release(lease.redisKey, lease.id).then(
      () => undefined,
      () => undefined,
    )
  }

  /**
   * Renews every held lease now; leases Redis lost (a restart) are added back where there is
   * room. Resolves with how many could not be; rejects when Redis fails.
   */
  heartbeat(): Promise<number> {
    if (this.heartbeatInFlight !== undefined) return this.heartbeatInFlight
    const run = this.sendHeartbeat().finally(() => {
      this.heartbeatInFlight = undefined
    })
    this.heartbeatInFlight = run
    return run
  }

  /** Stops the heartbeat; held leases are left to expire. */
  close(): void {
    this.keeper.stop()
  }

  private async sendHeartbeat(): Promise<number> {
    const byKey = new Map<string, KeyBatch>()
    for (const lease of this.keeper.held) {
      const batch = byKey.get(lease.redisKey)
      if (batch === undefined)
        byKey.set(lease.redisKey, { redisKey: lease.redisKey, max: lease.max, leases: [lease] })
      else {
        batch.leases.push(lease)
        // Leases of one key taken under different limits (a reload): never refill above the lowest.
        if (lease.max < batch.max) batch.max = lease.max
      }
    }
    const calls: Promise<number>[] = []
    let keys: string[] = []
    let args: (string | number)[] = []
    let leases = 0
    const flush = () => {
      if (keys.length === 0) return
      calls.push(this.options.client.limitHeartbeat(keys.length, ...keys, ...args))
      keys = []
      args = []
      leases = 0
    }
    for (const batch of byKey.values()) {
      keys.push(batch.redisKey)
      args.push(batch.max, batch.leases.length)
      for (const lease of batch.leases) args.push(lease.id, lease.ttlMs)
      leases += batch.leases.length
      if (this.options.perKeyHeartbeat || leases >= HEARTBEAT_BATCH) flush()
    }
    flush()
    const missing = await Promise.all(calls)
    return missing.reduce((a, b) => a + b, 0)
  }
}
