/**
 * The primary's side of worker limits: one in-memory store that answers every worker, so a
 * limit means the same across workers as in one process (the GCRA bound of README.md holds
 * exactly: decisions on a key are made one at a time in the primary's event loop). The primary
 * knows which worker holds which lease and gives them all back when that worker exits.
 */
import type { Clock, Scheduler } from '../clock.js'
import { createMemoryLimitState, createMemoryLimitStore } from '../memory/store.js'
import type { Lease } from '../ports.js'
import {
  LIMIT_ANSWER,
  type IpcEndpoint,
  type LimitAnswer,
  type LimitOp,
  type LimitRequest,
} from './protocol.js'

export interface IpcLimitServer {
  /** Decides one turn's operations from `worker` and answers them in one message on `reply`. */
  handle(worker: number, request: LimitRequest, reply: IpcEndpoint): void
  /** The worker exited: release every lease it held. Returns how many were released. */
  releaseWorker(worker: number): number
  /** Leases currently held per worker (tests, logs). */
  heldBy(worker: number): number
  close(): Promise<void>
}

export interface IpcLimitServerOptions {
  readonly maxKeys?: number
  /** For tests: the memory store's clock and heartbeat timers. */
  readonly clock?: Clock
  readonly scheduler?: Scheduler
}

export function createIpcLimitServer(options: IpcLimitServerOptions = {}): IpcLimitServer {
  const state = createMemoryLimitState({
    ...(options.maxKeys !== undefined ? { maxKeys: options.maxKeys } : {}),
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
  })
  const store = createMemoryLimitStore({
    state,
    ...(options.scheduler !== undefined ? { scheduler: options.scheduler } : {}),
  })
  const leases = new Map<number, { readonly worker: number; readonly lease: Lease }>()
  const byWorker = new Map<number, Set<number>>()
  let nextLease = 1

  const answer = (reply: IpcEndpoint, answers: LimitAnswer[]): void => {
    // A worker that is gone cannot be answered; its leases are released on its exit.
    try {
      reply.send({ t: LIMIT_ANSWER, answers }, ignore)
    } catch {
      /* channel closed */
    }
  }

  const forget = (id: number): void => {
    const held = leases.get(id)
    if (held === undefined) return
    leases.delete(id)
    byWorker.get(held.worker)?.delete(id)
    void held.lease.release()
  }

  /** Takes a lease for `worker` now; its id, or undefined when `key` is full. */
  const hold = (worker: number, key: string, max: number, leaseTtlMs: number) => {
    const lease = store.concurrency.acquireNow(key, max, { leaseTtlMs })
    if (lease === undefined) return undefined
    const id = nextLease++
    leases.set(id, { worker, lease })
    let mine = byWorker.get(worker)
    if (mine === undefined) byWorker.set(worker, (mine = new Set()))
    mine.add(id)
    return id
  }

  /** The answer to one operation; undefined for a release (nobody waits for it). */
  const decide = (worker: number, r: LimitOp): LimitAnswer | undefined => {
    switch (r.op) {
      case 'consume':
        return { id: r.id, decision: store.rate.consume(r.key, r.rule, r.cost) }
      case 'acquire': {
        const lease = hold(worker, r.key, r.max, r.leaseTtlMs)
        return lease === undefined ? { id: r.id } : { id: r.id, lease }
      }
      case 'acquirePair': {
        // Both decided in this one turn of the primary, so the pair costs one message each way.
        const lease = hold(worker, r.first.key, r.first.max, r.leaseTtlMs)
        if (lease === undefined) return { id: r.id }
        const secondLease = hold(worker, r.second.key, r.second.max, r.leaseTtlMs)
        return secondLease === undefined ? { id: r.id, lease } : { id: r.id, lease, secondLease }
      }
      case 'release':
        forget(r.lease)
        return undefined
      case 'count':
        return { id: r.id, count: state.leases.count(r.key) }
    }
  }

  return {
    handle(worker, request, reply) {
      const answers: LimitAnswer[] = []
      for (const op of request.ops) {
        let a: LimitAnswer | undefined
        try {
          a = decide(worker, op)
        } catch (e) {
          a = { id: op.id, error: e instanceof Error ? e.message : String(e) }
        }
        if (a !== undefined) answers.push(a)
      }
      if (answers.length > 0) answer(reply, answers)
    },
    releaseWorker(worker) {
      const mine = byWorker.get(worker)
      byWorker.delete(worker)
      if (mine === undefined) return 0
      for (const id of mine) forget(id)
      return mine.size
    },
    heldBy: (worker) => byWorker.get(worker)?.size ?? 0,
    close: () => store.close(),
  }
}

function ignore(): void {}
