/**
 * Concurrency leases in Redis: a sorted set per limit key (scores are expiries in Redis time).
 * acquire (drop expired, count, add if under max) and release (ZREM) are operations of the
 * turn's micro-batch (batch.ts), so concurrent requests share one script call; the leases this
 * store holds are renewed in one batch per heartbeat, so a replica that dies stops renewing and
 * its slots come back within the lease TTL.
 */
import { randomBytes } from 'node:crypto'
import type { Scheduler } from '../clock.js'
import type { BatchOp, RedisBatch, ReplyReader } from './batch.js'
import { LeaseKeeper } from '../lease-keeper.js'
import { acquireOneThenOther } from '../lease-pair.js'
import { checkAcquire } from '../lease-options.js'
import type {
  AcquireOptions,
  ConcurrencyLimiter,
  Lease,
  LeasePair,
  LeaseRequest,
} from '../ports.js'
import type { ScriptedClient } from './scripts.js'

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

  /** Its acquire operation for BATCH_LUA: '<max>,<TTL ms>,<id>'. */
  get spec(): string {
    return `${this.max},${this.ttlMs},${this.id}`
  }

  release(): Promise<void> {
    if (this.released) return DONE
    this.released = true
    return this.owner.forget(this)
  }
}

const DONE: Promise<void> = Promise.resolve()

/** One acquire in a batch: on 1 the lease is held (and renewed) from then on. */
class AcquireOp implements BatchOp {
  constructor(
    private readonly lease: RedisLease,
    private readonly owner: RedisConcurrencyLimiter,
    private readonly done: (lease: RedisLease | undefined, err?: unknown) => void,
  ) {}

  answer(reply: ReplyReader): void {
    if (reply.next() !== 1) return this.done(undefined)
    this.owner.hold(this.lease)
    this.done(this.lease)
  }

  fail(err: unknown): void {
    this.done(undefined, err ?? new Error('lease acquire failed'))
  }
}

/** A release in a batch; resolves either way (a lease Redis did not hear of expires). */
class ReleaseOp implements BatchOp {
  constructor(private readonly done: () => void) {}

  answer(): void {
    this.done()
  }

  fail(): void {
    this.done()
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
  /** 72 random bits: ids of different replicas (and restarts) never collide in practice. */
  private readonly idPrefix = randomBytes(9).toString('base64url') + ':'
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
  acquire(key: string, max: number, options: AcquireOptions): Promise<Lease | undefined> {
    checkAcquire(max, options)
    const lease = this.newLease(key, max, options.leaseTtlMs)
    return new Promise((resolve, reject) => {
      this.options.batch.acquire(
        lease.redisKey,
        lease.spec,
        new AcquireOp(lease, this, (held, err) =>
          err === undefined ? resolve(held) : reject(err),
        ),
      )
    })
  }

  /** Both in one script call (`c` in BATCH_LUA), except on Redis Cluster. */
  acquirePair(
    first: LeaseRequest,
    second: LeaseRequest,
    options: AcquireOptions,
  ): Promise<LeasePair> {
    if (!this.options.batch.sharesCalls) return acquireOneThenOther(this, first, second, options)
    checkAcquire(first.max, options)
    checkAcquire(second.max, options)
    const a = this.newLease(first.key, first.max, options.leaseTtlMs)
    const b = this.newLease(second.key, second.max, options.leaseTtlMs)
    return new Promise((resolve, reject) => {
      let got: RedisLease | undefined
      const onFirst = (held: RedisLease | undefined, err?: unknown): void => {
        if (err !== undefined) reject(err)
        got = held
      }
      const onSecond = (held: RedisLease | undefined, err?: unknown): void => {
        if (err !== undefined) reject(err)
        else resolve([got, held])
      }
      this.options.batch.acquirePair(
        a.redisKey,
        a.spec,
        new AcquireOp(a, this, onFirst),
        b.redisKey,
        b.spec,
        new AcquireOp(b, this, onSecond),
      )
    })
  }

  count(key: string): Promise<number> {
    return this.options.client.limitCount(this.options.keyPrefix + key)
  }

  /** From the batch: Redis holds `lease`, so the heartbeat renews it. */
  hold(lease: RedisLease): void {
    this.keeper.add(lease)
  }

  /** Removes the lease; when Redis cannot be reached it expires on its own after its TTL. */
  forget(lease: RedisLease): Promise<void> {
    this.keeper.delete(lease)
    return new Promise((resolve) => {
      this.options.batch.release(lease.redisKey, lease.id, new ReleaseOp(resolve))
    })
  }

  private newLease(key: string, max: number, ttlMs: number): RedisLease {
    // Short ids (a random prefix per store, a base-36 counter): they are written per acquire
    // and release, and held in every lease set.
    const id = this.idPrefix + (++this.lastId).toString(36)
    return new RedisLease(key, this.options.keyPrefix + key, id, max, ttlMs, this)
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
