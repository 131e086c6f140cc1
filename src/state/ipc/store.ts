/**
 * The limit store of a cluster worker without Redis: every decision is asked of the primary over
 * the IPC channel (`process.send`), which keeps one memory store for all workers. The operations
 * of one event-loop turn go as one message (protocol.ts), answered by one, and the two leases of
 * `acquirePair` are one operation; a key the primary
 * refused is refused here until the retry time it returned (over-limit-cache.ts), without a
 * message. No timers in the worker: the primary's lease table renews leases and gives back a
 * dead worker's leases when it exits.
 *
 * If the channel closes (the primary is gone; the worker is shutting down) pending and later
 * decisions follow the rule's failure mode: `open` decides with a local memory store, `closed`
 * refuses (an error decision, an undefined lease).
 */
import { systemClock, type Clock } from '../clock.js'
import { createMemoryLimitStore } from '../memory/store.js'
import { OverLimitCache } from '../over-limit-cache.js'
import type {
  AcquireOptions,
  ConcurrencyLimiter,
  Lease,
  LimitStore,
  LimitStoreHealth,
  RateDecision,
  RateLimiter,
  RateRule,
} from '../ports.js'
import {
  isLimitAnswers,
  LIMIT_REQUEST,
  type IpcEndpoint,
  type LimitAnswer,
  type LimitOp,
} from './protocol.js'

export interface IpcLimitStore extends LimitStore {
  /**
   * Give the store every message the channel delivers; returns true when it was an answer for
   * this store (the caller ignores it then).
   */
  receive(message: unknown): boolean
  /** The channel closed: decide locally from now on. */
  disconnect(): void
}

type Waiter = (answer: LimitAnswer | undefined) => void

const DONE: Promise<void> = Promise.resolve()

/** Distributes operations that the Omit<> below strips the id from. */
type Body<R> = R extends LimitOp ? Omit<R, 'id'> : never

export interface IpcLimitStoreOptions {
  /** Local time for the over-limit cache; the primary's clock in tests. Default: monotonic. */
  readonly clock?: Clock
}

export function createIpcLimitStore(
  channel: IpcEndpoint,
  options: IpcLimitStoreOptions = {},
): IpcLimitStore {
  const waiting = new Map<number, Waiter>()
  const local = createMemoryLimitStore()
  const clock = options.clock ?? systemClock
  const refusals = new OverLimitCache(clock)
  let nextId = 1
  let isConnected = true
  let turn: LimitOp[] | undefined

  /** Sends the turn's operations as one message. */
  const flush = (): void => {
    const ops = turn
    turn = undefined
    if (ops === undefined) return
    const fail = (e: Error | null): void => {
      if (e === null) return
      for (const op of ops) {
        const w = waiting.get(op.id)
        if (w === undefined) continue
        waiting.delete(op.id)
        w(undefined)
      }
    }
    try {
      channel.send({ t: LIMIT_REQUEST, ops }, fail)
    } catch (e) {
      fail(e instanceof Error ? e : new Error(String(e)))
    }
  }

  const enqueue = (op: LimitOp): void => {
    if (turn === undefined) {
      turn = []
      setImmediate(flush)
    }
    turn.push(op)
  }

  /** Resolves with the answer, or undefined when the channel is (or becomes) closed. */
  const ask = (body: Body<LimitOp>): Promise<LimitAnswer | undefined> => {
    if (!isConnected) return Promise.resolve(undefined)
    const id = nextId++
    return new Promise((resolve) => {
      waiting.set(id, resolve)
      enqueue({ id, ...body })
    })
  }

  const rate: RateLimiter = {
    consume(key: string, rule: RateRule, cost = 1): Promise<RateDecision> | RateDecision {
      const known = refusals.check(key, cost, rule.limit)
      if (known !== undefined) return known
      const sentAt = clock.now()
      return ask({
        op: 'consume',
        key,
        rule: { limit: rule.limit, periodMs: rule.periodMs },
        cost,
      }).then((a) => {
        if (a?.decision !== undefined) {
          if (!a.decision.allowed) refusals.remember(key, cost, sentAt, a.decision)
          return a.decision
        }
        if (rule.failureMode === 'closed') return errorDecision(rule.limit)
        return local.rate.consume(key, rule, cost)
      })
    },
  }

  const concurrency: ConcurrencyLimiter = {
    async acquire(key: string, max: number, options: AcquireOptions): Promise<Lease | undefined> {
      const a = await ask({ op: 'acquire', key, max, leaseTtlMs: options.leaseTtlMs })
      if (a !== undefined && a.error === undefined) {
        return a.lease === undefined ? undefined : new IpcLease(key, a.lease, release)
      }
      if (options.failureMode === 'closed') return undefined
      return local.concurrency.acquire(key, max, options)
    },
    async acquirePair(first, second, options) {
      const a = await ask({
        op: 'acquirePair',
        first: { key: first.key, max: first.max },
        second: { key: second.key, max: second.max },
        leaseTtlMs: options.leaseTtlMs,
      })
      if (a !== undefined && a.error === undefined) {
        if (a.lease === undefined) return [undefined, undefined]
        const held = new IpcLease(first.key, a.lease, release)
        return [
          held,
          a.secondLease === undefined
            ? undefined
            : new IpcLease(second.key, a.secondLease, release),
        ]
      }
      if (options.failureMode === 'closed') return [undefined, undefined]
      return local.concurrency.acquirePair(first, second, options)
    },
    async count(key: string): Promise<number> {
      const a = await ask({ op: 'count', key })
      return a?.count ?? (await local.concurrency.count(key))
    },
  }

  const release = (lease: number): void => {
    // Not answered: a lost release is given back when this worker exits.
    if (isConnected) enqueue({ id: nextId++, op: 'release', lease })
  }

  const disconnect = (): void => {
    isConnected = false
    for (const w of waiting.values()) w(undefined)
    waiting.clear()
  }

  return {
    rate,
    concurrency,
    health: (): LimitStoreHealth => (isConnected ? 'ok' : 'degraded'),
    receive(message) {
      if (!isLimitAnswers(message)) return false
      for (const a of message.answers) {
        const w = waiting.get(a.id)
        if (w === undefined) continue
        waiting.delete(a.id)
        w(a)
      }
      return true
    },
    disconnect,
    async close() {
      disconnect()
      await local.close()
    },
  }
}

class IpcLease implements Lease {
  private isReleased = false

  constructor(
    readonly key: string,
    private readonly id: number,
    private readonly releaseId: (id: number) => void,
  ) {}

  release(): Promise<void> {
    if (!this.isReleased) {
      this.isReleased = true
      this.releaseId(this.id)
    }
    return DONE
  }
}

function errorDecision(limit: number): RateDecision {
  return { allowed: false, limit, remaining: 0, resetMs: 0, retryAfterMs: 0, error: true }
}
