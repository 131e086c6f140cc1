/**
 * The micro-batch: every rate decision, lease acquire and lease release this replica asks of
 * Redis within one event-loop turn goes out as one BATCH_LUA call (scripts.ts), by SHA — one
 * round trip, one command for ioredis to build and Redis to parse, one TIME, however many
 * requests arrived in that turn. The turn ends at `setImmediate`, after the poll phase has run
 * the callbacks of every socket that had data, so requests that arrive together share a call.
 *
 * Two deadlines per call, both from one timer: rate decisions still unanswered after
 * `rateDeadlineMs` resolve `undefined` (the caller decides that request locally; the call goes
 * on and its answer is ignored), while acquires and releases wait for the answer until the
 * client's command timeout (the lease deadline). Each call's outcome — answered, or failed /
 * past the lease deadline — is reported for the failure pattern (failure-pattern.ts).
 *
 * On Redis Cluster a call may only touch keys of one slot, so operations are grouped per key.
 */
import type { ScriptedClient } from './scripts.js'

/** Operations per script call at most, so one call never holds Redis for long. */
const MAX_OPS_PER_CALL = 512

export type RateReplyValues = readonly [number, number, number, number]

interface RateOp {
  readonly kind: 'r'
  settled: boolean
  readonly resolve: (reply: RateReplyValues | undefined) => void
  readonly reject: (err: unknown) => void
}

interface LeaseOp {
  readonly kind: 'a' | 'z'
  readonly resolve: (acquired: boolean) => void
  readonly reject: (err: unknown) => void
}

type Op = RateOp | LeaseOp

class Call {
  readonly keys: string[] = []
  readonly args: (string | number)[] = []
  readonly ops: Op[] = []
  rates = 0
}

export interface BatchOptions {
  readonly client: ScriptedClient
  /** Rate decisions not answered by then are decided by the caller. */
  readonly rateDeadlineMs: number
  /** Redis Cluster: one call per key. */
  readonly perKey: boolean
  /** Every call's outcome: true when answered, false when it failed or timed out. */
  readonly onOutcome: (ok: boolean, cause?: unknown) => void
}

export class RedisBatch {
  private pending: Call | undefined
  private byKey: Map<string, Call> | undefined
  private scheduled = false

  constructor(private readonly options: BatchOptions) {}

  /** GCRA on `key`; resolves undefined past the rate deadline, rejects when the call failed. */
  rate(
    key: string,
    intervalUs: number,
    limit: number,
    cost: number,
  ): Promise<RateReplyValues | undefined> {
    return new Promise((resolve, reject) => {
      const call = this.callFor(key)
      call.keys.push(key)
      call.args.push('r', intervalUs, limit, cost)
      call.ops.push({ kind: 'r', settled: false, resolve, reject })
      call.rates++
    })
  }

  /** Resolves whether a lease was added; rejects when the call failed or missed the deadline. */
  acquire(key: string, max: number, ttlMs: number, id: string): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const call = this.callFor(key)
      call.keys.push(key)
      call.args.push('a', max, ttlMs, id)
      call.ops.push({ kind: 'a', resolve, reject })
    })
  }

  /** Removes a lease; rejects when the call failed (the lease then expires after its TTL). */
  release(key: string, id: string): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const call = this.callFor(key)
      call.keys.push(key)
      call.args.push('z', id)
      call.ops.push({ kind: 'z', resolve, reject })
    })
  }

  private callFor(key: string): Call {
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(this.flush)
    }
    if (this.options.perKey) {
      this.byKey ??= new Map()
      let call = this.byKey.get(key)
      if (call === undefined || call.ops.length >= MAX_OPS_PER_CALL) {
        if (call !== undefined) this.send(call)
        call = new Call()
        this.byKey.set(key, call)
      }
      return call
    }
    let call = this.pending
    if (call === undefined || call.ops.length >= MAX_OPS_PER_CALL) {
      if (call !== undefined) this.send(call)
      call = this.pending = new Call()
    }
    return call
  }

  private readonly flush = (): void => {
    this.scheduled = false
    const call = this.pending
    this.pending = undefined
    if (call !== undefined) this.send(call)
    const byKey = this.byKey
    this.byKey = undefined
    if (byKey !== undefined) for (const c of byKey.values()) this.send(c)
  }

  private send(call: Call): void {
    let timer: NodeJS.Timeout | undefined
    if (call.rates > 0) {
      const missDeadline = (): void => {
        for (const op of call.ops) {
          if (op.kind === 'r' && !op.settled) {
            op.settled = true
            op.resolve(undefined)
          }
        }
      }
      // Timers run before the poll phase reads sockets: after a stall of this process (GC, a
      // busy machine) the answer may already be waiting. Looking again after the poll phase
      // (setImmediate) lets it count, so only a late Redis misses the deadline.
      timer = setTimeout(() => setImmediate(missDeadline), this.options.rateDeadlineMs)
    }
    this.options.client.limitBatch(call.keys.length, ...call.keys, ...call.args).then(
      (reply) => {
        if (timer !== undefined) clearTimeout(timer)
        this.options.onOutcome(true)
        let at = 0
        for (const op of call.ops) {
          if (op.kind === 'r') {
            const values: RateReplyValues = [
              reply[at]!,
              reply[at + 1]!,
              reply[at + 2]!,
              reply[at + 3]!,
            ]
            at += 4
            if (!op.settled) {
              op.settled = true
              op.resolve(values)
            }
          } else if (op.kind === 'a') {
            op.resolve(reply[at] === 1)
            at += 1
          } else {
            op.resolve(true)
          }
        }
      },
      (err: unknown) => {
        if (timer !== undefined) clearTimeout(timer)
        this.options.onOutcome(false, err)
        for (const op of call.ops) {
          if (op.kind !== 'r') op.reject(err)
          else if (!op.settled) {
            op.settled = true
            op.reject(err)
          }
        }
      },
    )
  }
}
