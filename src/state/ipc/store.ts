/**
 * The limit store of a cluster worker without Redis: every decision is asked of the primary over
 * the IPC channel (`process.send`), which keeps one memory store for all workers. One IPC round
 * trip per decision, no timers in the worker: the primary's lease table renews leases and gives
 * back a dead worker's leases when it exits.
 *
 * If the channel closes (the primary is gone; the worker is shutting down) pending and later
 * decisions follow the rule's failure mode: `open` decides with a local memory store, `closed`
 * refuses (an error decision, an undefined lease).
 */
import { createMemoryLimitStore } from '../memory/store.js'
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
  isLimitAnswer,
  LIMIT_REQUEST,
  type IpcEndpoint,
  type LimitAnswer,
  type LimitRequest,
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

/** Distributes requests that the Omit<> below strips the id and tag from. */
type Body<R> = R extends LimitRequest ? Omit<R, 't' | 'id'> : never

export function createIpcLimitStore(channel: IpcEndpoint): IpcLimitStore {
  const waiting = new Map<number, Waiter>()
  const local = createMemoryLimitStore()
  let nextId = 1
  let isConnected = true

  /** Resolves with the answer, or undefined when the channel is (or becomes) closed. */
  const ask = (body: Body<LimitRequest>): Promise<LimitAnswer | undefined> => {
    if (!isConnected) return Promise.resolve(undefined)
    const id = nextId++
    return new Promise((resolve) => {
      waiting.set(id, resolve)
      const fail = (e: Error | null): void => {
        if (e === null) return
        waiting.delete(id)
        resolve(undefined)
      }
      try {
        channel.send({ t: LIMIT_REQUEST, id, ...body }, fail)
      } catch (e) {
        fail(e instanceof Error ? e : new Error(String(e)))
      }
    })
  }

  const rate: RateLimiter = {
    async consume(key: string, rule: RateRule, cost = 1): Promise<RateDecision> {
      const a = await ask({
        op: 'consume',
        key,
        rule: { limit: rule.limit, periodMs: rule.periodMs },
        cost,
      })
      if (a?.decision !== undefined) return a.decision
      if (rule.failureMode === 'closed') return errorDecision(rule.limit)
      return local.rate.consume(key, rule, cost)
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
    async count(key: string): Promise<number> {
      const a = await ask({ op: 'count', key })
      return a?.count ?? (await local.concurrency.count(key))
    },
  }

  const release = (lease: number): void => {
    // Nobody waits for the answer: a lost release is given back when this worker exits.
    void ask({ op: 'release', lease })
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
      if (!isLimitAnswer(message)) return false
      const w = waiting.get(message.id)
      if (w !== undefined) {
        waiting.delete(message.id)
        w(message)
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
