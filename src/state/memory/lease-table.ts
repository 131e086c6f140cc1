/**
 * In-process counting semaphores with expiring leases: per key, lease id → expiry (ms of the
 * injected clock). The same model as the Redis sorted sets, so both stores share one contract:
 * holders renew their leases, and a lease nobody renews stops counting after its TTL.
 */
import type { Clock } from '../clock.js'

interface LeaseSet {
  readonly leases: Map<string, number>
  /** No lease expires before this (a lower bound, exact after each purge). */
  earliestExpiry: number
}

const MIN_SWEEP_SIZE = 1024

export class LeaseTable {
  private readonly sets = new Map<string, LeaseSet>()
  private lastId = 0
  // Keys whose holders vanished are never touched again; a sweep whenever the Map has doubled
  // drops them (amortised O(1) per new key).
  private sweepAtSize = MIN_SWEEP_SIZE

  constructor(private readonly clock: Clock) {}

  /** A lease id unique within this table. */
  nextId(): string {
    this.lastId += 1
    return String(this.lastId)
  }

  /** Adds lease `id` when fewer than `max` live leases are held for `key`. */
  tryAcquire(key: string, id: string, max: number, ttlMs: number): boolean {
    const now = this.clock.now()
    const set = this.live(key, now)
    if ((set?.leases.size ?? 0) >= max) return false
    this.add(set, key, id, now + ttlMs)
    return true
  }

  /**
   * Extends lease `id`. A lease that already expired (its holder was stalled for longer than the
   * TTL) is added back only when there is room; returns whether the lease is held afterwards.
   */
  renew(key: string, id: string, max: number, ttlMs: number): boolean {
    const now = this.clock.now()
    const set = this.live(key, now)
    if (set?.leases.has(id) !== true && (set?.leases.size ?? 0) >= max) return false
    this.add(set, key, id, now + ttlMs)
    return true
  }

  release(key: string, id: string): void {
    const set = this.sets.get(key)
    if (set === undefined) return
    set.leases.delete(id)
    if (set.leases.size === 0) this.sets.delete(key)
  }

  count(key: string): number {
    return this.live(key, this.clock.now())?.leases.size ?? 0
  }

  /** Keys with at least one lease, expired ones not yet purged included. */
  get size(): number {
    return this.sets.size
  }

  private add(set: LeaseSet | undefined, key: string, id: string, expiry: number): void {
    if (set === undefined) {
      this.sets.set(key, { leases: new Map([[id, expiry]]), earliestExpiry: expiry })
      if (this.sets.size >= this.sweepAtSize) this.sweep()
      return
    }
    set.leases.set(id, expiry)
    if (expiry < set.earliestExpiry) set.earliestExpiry = expiry
  }

  private sweep(): void {
    const now = this.clock.now()
    for (const key of this.sets.keys()) this.live(key, now)
    this.sweepAtSize = Math.max(MIN_SWEEP_SIZE, this.sets.size * 2)
  }

  /** The key's set with expired leases removed, or undefined when none is left. */
  private live(key: string, now: number): LeaseSet | undefined {
    const set = this.sets.get(key)
    if (set === undefined || now < set.earliestExpiry) return set
    let earliest = Infinity
    for (const [id, expiry] of set.leases) {
      if (expiry <= now) set.leases.delete(id)
      else if (expiry < earliest) earliest = expiry
    }
    if (set.leases.size === 0) {
      this.sets.delete(key)
      return undefined
    }
    set.earliestExpiry = earliest
    return set
  }
}
