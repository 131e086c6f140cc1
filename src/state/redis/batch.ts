/**
 * The micro-batch: every rate decision, lease acquire and lease release this replica asks of
 * Redis within one event-loop turn goes out as one BATCH_LUA call (scripts.ts), by SHA — one
 * round trip, one command for ioredis to build and Redis to parse, one TIME, however many
 * requests arrived in that turn. The turn ends at `setImmediate`, after the poll phase has run
 * the callbacks of every socket that had data, so requests that arrive together share a call.
 *
 * Operations are objects with callbacks rather than promises: the batch hands each one its
 * values from the reply (one comma-separated string, read in place) and the caller makes the
 * one promise its own caller awaits, so a decision costs no chain of promises.
 *
 * Two deadlines per call, both from one timer: rate decisions still unanswered after
 * `rateDeadlineMs` are told they are late (the caller decides that request locally; the call
 * goes on and its answer still feeds the over-limit cache), while acquires and releases wait for
 * the answer until the client's command timeout (the lease deadline). Each call's outcome —
 * answered, or failed / past the lease deadline — is reported for the failure pattern
 * (failure-pattern.ts).
 *
 * On Redis Cluster a call may only touch keys of one slot, so operations are grouped per key.
 */
import type { ScriptedClient } from './scripts.js'

/** Operations per script call at most, so one call never holds Redis for long. */
const MAX_OPS_PER_CALL = 512

/** The values of one call's reply, read in order. */
export class ReplyReader {
  private at = 0

  constructor(private readonly text: string) {}

  /** The next integer (values are written with %d, so plain decimal with an optional sign). */
  next(): number {
    const s = this.text
    let i = this.at
    let negative = false
    if (s.charCodeAt(i) === 45 /* - */) {
      negative = true
      i++
    }
    let v = 0
    for (let c = s.charCodeAt(i); c >= 48 && c <= 57; c = s.charCodeAt(++i)) v = v * 10 + c - 48
    this.at = i + 1 // past the comma
    return negative ? -v : v
  }
}

/** One operation of a call. */
export interface BatchOp {
  /** Reads this operation's values (none for a release). */
  answer(reply: ReplyReader): void
  /** The call failed, or (leases) missed the lease deadline. */
  fail(err: unknown): void
}

/** A rate decision, which also has the short deadline. */
export interface RateBatchOp extends BatchOp {
  /** No answer within the rate deadline; `answer` or `fail` may still follow. */
  late(): void
}

class Call {
  readonly keys: string[] = []
  readonly specs: string[] = []
  readonly ops: BatchOp[] = []
  rates: RateBatchOp[] | undefined
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

  /** Whether operations on different keys can share a call (not on Redis Cluster). */
  get sharesCalls(): boolean {
    return !this.options.perKey
  }

  /** GCRA on `key`; `spec` is 'r<interval µs>,<limit>,<cost>' (scripts.ts). */
  rate(key: string, spec: string, op: RateBatchOp): void {
    const call = this.callFor(key, 1)
    call.keys.push(key)
    call.specs.push(spec)
    call.ops.push(op)
    ;(call.rates ??= []).push(op)
  }

  /** A lease; `spec` is '<max>,<TTL ms>,<lease id>'; `op` reads 1 (acquired) or 0. */
  acquire(key: string, spec: string, op: BatchOp): void {
    const call = this.callFor(key, 1)
    call.keys.push(key)
    call.specs.push('a' + spec)
    call.ops.push(op)
  }

  /**
   * Two leases in order in one call: the second only when the first was acquired. Only when
   * `sharesCalls` (on Redis Cluster the keys live in different slots).
   */
  acquirePair(
    first: string,
    firstSpec: string,
    firstOp: BatchOp,
    second: string,
    secondSpec: string,
    secondOp: BatchOp,
  ): void {
    const call = this.callFor(first, 2)
    call.keys.push(first, second)
    call.specs.push('a' + firstSpec, 'c' + secondSpec)
    call.ops.push(firstOp, secondOp)
  }

  /** Removes a lease; `op` reads nothing. */
  release(key: string, id: string, op: BatchOp): void {
    const call = this.callFor(key, 1)
    call.keys.push(key)
    call.specs.push('z' + id)
    call.ops.push(op)
  }

  private callFor(key: string, room: number): Call {
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(this.flush)
    }
    if (this.options.perKey) {
      this.byKey ??= new Map()
      let call = this.byKey.get(key)
      if (call === undefined || call.ops.length + room > MAX_OPS_PER_CALL) {
        if (call !== undefined) this.send(call)
        call = new Call()
        this.byKey.set(key, call)
      }
      return call
    }
    let call = this.pending
    if (call === undefined || call.ops.length + room > MAX_OPS_PER_CALL) {
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
    const rates = call.rates
    if (rates !== undefined) {
      const missDeadline = (): void => {
        for (const op of rates) op.late()
      }
      // Timers run before the poll phase reads sockets: after a stall of this process (GC, a
      // busy machine) the answer may already be waiting. Looking again after the poll phase
      // (setImmediate) lets it count, so only a late Redis misses the deadline.
      timer = setTimeout(() => setImmediate(missDeadline), this.options.rateDeadlineMs)
    }
    this.options.client.limitBatch(call.keys.length, call.keys, call.specs).then(
      (reply) => {
        if (timer !== undefined) clearTimeout(timer)
        this.options.onOutcome(true)
        const reader = new ReplyReader(reply)
        for (const op of call.ops) op.answer(reader)
      },
      (err: unknown) => {
        if (timer !== undefined) clearTimeout(timer)
        this.options.onOutcome(false, err)
        for (const op of call.ops) op.fail(err)
      },
    )
  }
}
