/**
 * The header deadlines of a PROXY protocol listener's connections that are still sending their
 * header, kept by one timer per listener settings instead of one per connection. A connection
 * from a balancer usually completes its header in the first read, so its deadline is armed and
 * dropped within a millisecond; a Node timer for that (a Timeout, its duration list made and torn
 * down again, the libuv timer restarted) cost as much CPU as reading and parsing the header.
 *
 * All entries share one timeout, so insertion order is deadline order: a sweep stops at the
 * first entry not yet due. A connection is closed between `timeoutMs` and `timeoutMs + SWEEP_MS`
 * after it was accepted.
 */

/** How often due entries are looked for, while there are any; bounds how late a close comes. */
export const SWEEP_MS = 100

export class HeaderDeadlines {
  /** Expiry callback → deadline (performance.now() ms), in insertion (= deadline) order. */
  private readonly pending = new Map<() => void, number>()
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly timeoutMs: number) {}

  /** Calls `expire` once `timeoutMs` has passed, unless `cancel(expire)` came first. */
  arm(expire: () => void): void {
    this.pending.set(expire, performance.now() + this.timeoutMs)
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.sweep(), Math.min(SWEEP_MS, this.timeoutMs))
      // Never what keeps the process alive: the listener's server does that.
      this.timer.unref()
    }
  }

  cancel(expire: () => void): void {
    this.pending.delete(expire)
  }

  /** Connections still waiting for their header's deadline (for tests). */
  get size(): number {
    return this.pending.size
  }

  private sweep(): void {
    const now = performance.now()
    for (const [expire, deadline] of this.pending) {
      if (deadline > now) break
      this.pending.delete(expire)
      expire()
    }
    // Stopped while idle; the next arm starts it again.
    if (this.pending.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer)
      this.timer = undefined
    }
  }
}
