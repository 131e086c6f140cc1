/**
 * One store instance's view of an in-process lease table: the leases it acquired, renewed by its
 * heartbeat. Several instances may share one table (as replicas share Redis), which is how the
 * contract tests model a holder that stops renewing.
 */
import type { Scheduler } from '../clock.js'
import { LeaseKeeper } from '../lease-keeper.js'
import type {
  AcquireOptions,
  ConcurrencyLimiter,
  Lease,
  LeasePair,
  LeaseRequest,
} from '../ports.js'
import { checkAcquire } from '../lease-options.js'
import type { LeaseTable } from './lease-table.js'

const DONE: Promise<void> = Promise.resolve()

class MemoryLease implements Lease {
  released = false

  constructor(
    readonly key: string,
    readonly id: string,
    readonly max: number,
    readonly ttlMs: number,
    private readonly owner: MemoryConcurrencyLimiter,
  ) {}

  release(): Promise<void> {
    if (!this.released) {
      this.released = true
      this.owner.forget(this)
    }
    return DONE
  }
}

export class MemoryConcurrencyLimiter implements ConcurrencyLimiter {
  private readonly keeper: LeaseKeeper<MemoryLease>

  constructor(
    private readonly table: LeaseTable,
    scheduler: Scheduler,
  ) {
    this.keeper = new LeaseKeeper(scheduler, (held) => {
      for (const lease of held) this.table.renew(lease.key, lease.id, lease.max, lease.ttlMs)
    })
  }

  acquire(key: string, max: number, options: AcquireOptions): Promise<Lease | undefined> {
    return Promise.resolve(this.acquireNow(key, max, options))
  }

  acquirePair(
    first: LeaseRequest,
    second: LeaseRequest,
    options: AcquireOptions,
  ): Promise<LeasePair> {
    const a = this.acquireNow(first.key, first.max, options)
    const b = a === undefined ? undefined : this.acquireNow(second.key, second.max, options)
    return Promise.resolve([a, b])
  }

  /** The synchronous form, for callers inside state/ that need no promise. */
  acquireNow(key: string, max: number, options: AcquireOptions): MemoryLease | undefined {
    checkAcquire(max, options)
    const id = this.table.nextId()
    if (!this.table.tryAcquire(key, id, max, options.leaseTtlMs)) return undefined
    const lease = new MemoryLease(key, id, max, options.leaseTtlMs, this)
    this.keeper.add(lease)
    return lease
  }

  count(key: string): Promise<number> {
    return Promise.resolve(this.table.count(key))
  }

  forget(lease: MemoryLease): void {
    this.keeper.delete(lease)
    this.table.release(lease.key, lease.id)
  }

  close(): void {
    this.keeper.stop()
  }
}
