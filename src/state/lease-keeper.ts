/**
 * The leases one store instance holds, and the heartbeat that keeps them alive: every third of
 * the shortest lease TTL in use, all held leases are renewed in one batch. The timer runs only
 * while something is held.
 */
import type { Cancel, Scheduler } from './clock.js'

export interface HeldLease {
  readonly key: string
  readonly id: string
  readonly max: number
  readonly ttlMs: number
}

export class LeaseKeeper<L extends HeldLease> {
  readonly held = new Set<L>()
  private cancel: Cancel | undefined
  private periodMs = Infinity
  private stopped = false

  constructor(
    private readonly scheduler: Scheduler,
    private readonly renew: (held: ReadonlySet<L>) => void,
  ) {}

  add(lease: L): void {
    this.held.add(lease)
    if (this.stopped) return
    const period = Math.max(1, Math.floor(lease.ttlMs / 3))
    if (period < this.periodMs || this.cancel === undefined) {
      this.periodMs = Math.min(period, this.periodMs)
      this.cancel?.()
      this.cancel = this.scheduler.every(this.periodMs, this.tick)
    }
  }

  delete(lease: L): boolean {
    return this.held.delete(lease)
  }

  /** Renews every held lease now (after the store comes back, before new admissions). */
  renewNow(): void {
    if (this.held.size > 0) this.renew(this.held)
  }

  /** No more heartbeats; held leases are left to expire. */
  stop(): void {
    this.stopped = true
    this.cancel?.()
    this.cancel = undefined
    this.held.clear()
  }

  private readonly tick = (): void => {
    if (this.held.size === 0) {
      this.cancel?.()
      this.cancel = undefined
      this.periodMs = Infinity
      return
    }
    this.renew(this.held)
  }
}
