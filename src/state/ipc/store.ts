/**
 * The limit store of a cluster worker without Redis: every decision is asked of the primary over
 * the IPC channel (`process.send`), which keeps one memory store for all workers. The operations
 * of one event-loop turn go as one message (protocol.ts), answered by one, and the two leases of
 * `acquirePair` are one operation; a key the primary
 * refused is refused here until the retry time it returned (over-limit-cache.ts), without a
 * message. A rule of 1 024 or more per period is spent from slices the primary grants
 * (rate-slices.ts): about one message per thousandth of its limit. No timers in the worker: the primary's lease table renews leases and gives back a
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
import { SliceBook, sliceLifetimeMs, sliceSize } from './rate-slices.js'

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
  const slices = new SliceBook()
  /** Keys whose slice the primary is being asked for. */
  const granting = new Map<string, Promise<RateDecision | undefined>>()
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

  /** One request's units asked of the primary. */
  const consumeOne = (key: string, rule: RateRule, cost: number): Promise<RateDecision> => {
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
  }

  /**
   * A large rule's request with no slice at hand: one request per key asks the primary for a
   * slice (rate-slices.ts), the others of that moment wait for its answer and spend from it. A
   * slice the primary cannot grant whole (the bucket is nearly empty) sends each request back
   * to the exact path, one request at a time.
   */
  const consumeSliced = (
    key: string,
    rule: RateRule,
    cost: number,
    size: number,
  ): Promise<RateDecision> => {
    const pending = granting.get(key)
    if (pending !== undefined) {
      return pending.then(() => slices.take(key, cost, clock.now()) ?? consumeOne(key, rule, cost))
    }
    const sentAt = clock.now()
    if (!slices.hasRoom(sentAt)) return consumeOne(key, rule, cost)
    const grant = ask({
      op: 'consume',
      key,
      rule: { limit: rule.limit, periodMs: rule.periodMs },
      cost: size,
    }).then((a) => {
      granting.delete(key)
      const d = a?.decision
      if (d === undefined || !d.allowed) return undefined
      // From when it was asked for: the slice expires no later than the bound allows.
      return slices.grant(key, size, cost, d, sentAt, sliceLifetimeMs(rule, size))
    })
    granting.set(key, grant)
    return grant.then((d) => d ?? consumeOne(key, rule, cost))
  }

  const rate: RateLimiter = {
    consume(key: string, rule: RateRule, cost = 1): Promise<RateDecision> | RateDecision {
      const known = refusals.check(key, cost, rule.limit)
      if (known !== undefined) return known
      const size = sliceSize(rule)
      if (size === 0 || cost > size || !isConnected) return consumeOne(key, rule, cost)
      return slices.take(key, cost, clock.now()) ?? consumeSliced(key, rule, cost, size)
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
