/**
 * The fleet's size, as Redis sees it: each replica keeps an entry in one sorted set
 * (`<prefix>members`, member = replica id, score = expiry in Redis time) and renews it every
 * third of the lease TTL. An entry lives two thirds of the TTL, so one missed beat is survived,
 * and a replica that died is out of the set within two thirds of a TTL of its last beat — seen
 * by the others at their next beat, within one TTL. A replica that stops cleanly leaves at once.
 * The size last seen sizes each replica's local share of a limit while Redis cannot answer.
 */
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { Cancel, Scheduler } from '../clock.js'
import type { ScriptedClient } from './scripts.js'

export interface MembershipOptions {
  readonly client: ScriptedClient
  readonly key: string
  /** Beat every third of it. */
  readonly ttlMs: number
  readonly scheduler: Scheduler
  readonly onOutcome: (ok: boolean, cause?: unknown) => void
  readonly onSize: (size: number) => void
}

export class RedisMembership {
  readonly id = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  private lastSize: number | undefined
  private timer: Cancel | undefined
  private inFlight = false
  private left = false

  constructor(private readonly options: MembershipOptions) {}

  /** Live replicas (this one included) at the last answered beat; undefined before the first. */
  get size(): number | undefined {
    return this.lastSize
  }

  /** Beats now and then every third of the TTL until leave(). */
  start(): Promise<void> {
    this.timer ??= this.options.scheduler.every(
      Math.max(1, Math.floor(this.options.ttlMs / 3)),
      () => void this.beat().catch(() => undefined),
    )
    return this.beat()
  }

  /** Renews this replica's entry and reads the size; rejects when Redis does not answer. */
  async beat(): Promise<void> {
    if (this.left || this.inFlight) return
    this.inFlight = true
    try {
      const lifeMs = Math.max(1, Math.floor((this.options.ttlMs * 2) / 3))
      const size = await this.options.client.limitMembers(this.options.key, this.id, lifeMs)
      this.options.onOutcome(true)
      if (size !== this.lastSize) {
        this.lastSize = size
        this.options.onSize(size)
      }
    } catch (err) {
      this.options.onOutcome(false, err)
      throw err
    } finally {
      this.inFlight = false
    }
  }

  /** Stops beating and removes this replica's entry (best effort). */
  async leave(): Promise<void> {
    this.left = true
    this.timer?.()
    this.timer = undefined
    await this.options.client.zrem(this.options.key, this.id).catch(() => undefined)
  }
}
