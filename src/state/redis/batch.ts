/**
 * The micro-batch: every rate decision, lease acquire and lease release this replica asks of
 * Redis goes out in a BATCH_LUA call (scripts.ts), by SHA, with as many other operations as
 * there are: one round trip, one command for the client to write and Redis to parse, one TIME.
 *
 * Operations asked in one event-loop turn share a call; the turn ends at `setImmediate`, after
 * the poll phase has run the callbacks of every socket that had data. And while a call is out,
 * the next one is held and filled until that call is answered: under load the round trip is
 * longer than a turn, so without holding most calls would carry one or two operations (measured
 * at 50 connections: a third of the calls carried one). Held, a call carries everything asked
 * during the round trip before it, and a request waits at most one round trip more, only when
 * another call is out. Redis answers calls on one connection in order anyway, so holding never
 * makes an answer come later than the previous call's.
 *
 * Operations are objects with callbacks rather than promises: the batch hands each one its
 * values from the reply (one comma-separated bulk string, read in place as bytes) and the caller
 * makes the one promise its own caller awaits, so a decision costs no chain of promises.
 *
 * Deadlines count from when the operation was asked, held or not. Rate decisions still
 * unanswered after `rateDeadlineMs` are told they are late (the caller decides that request
 * locally; the call goes on and its answer still feeds the over-limit cache); one timer, for the
 * oldest decision not yet answered, watches them all. Acquires and releases wait for the answer up to
 * `leaseDeadlineMs`, the call's own command timeout, shortened by the time it was held. Each
 * call's outcome — answered, or failed / past the lease deadline — is reported for the failure
 * pattern (failure-pattern.ts).
 *
 * On Redis Cluster a call may only touch keys of one slot, so operations are grouped per key
 * and each group is sent at the end of its turn (the cluster client pipelines them per node).
 */
import { sendBatchScript, type ScriptedClient } from './scripts.js'

/** Operations per script call at most, so one call never holds Redis for long. */
const MAX_OPS_PER_CALL = 512

/** The values of one call's reply, read in order. */
export class ReplyReader {
  private at = 0

  constructor(private readonly bytes: Uint8Array) {}

  /** The next integer (values are written with %d, so plain decimal with an optional sign). */
  next(): number {
    const b = this.bytes
    let i = this.at
    let negative = false
    if (b[i] === 45 /* - */) {
      negative = true
      i++
    }
    let v = 0
    for (let c = b[i]!; c >= 48 && c <= 57; c = b[++i]!) v = v * 10 + c - 48
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
  /** Answered or failed already: nothing to tell it any more. */
  readonly settled: boolean
  /** When it was asked (the batch's clock): its deadline counts from then. */
  readonly askedAt: number
  /** No answer within the rate deadline; `answer` or `fail` may still follow. */
  late(): void
}

class Call {
  readonly keys: string[] = []
  readonly specs: string[] = []
  readonly ops: BatchOp[] = []

  /** When its first operation was asked: deadlines count from then. */
  constructor(readonly createdAt: number) {}
}

export interface BatchOptions {
  readonly client: ScriptedClient
  /** Rate decisions not answered by then are decided by the caller. */
  readonly rateDeadlineMs: number
  /** Acquires and releases not answered by then fail (counted from when they were asked). */
  readonly leaseDeadlineMs: number
  /** Redis Cluster: one call per key. */
  readonly perKey: boolean
  /** Every call's outcome: true when answered, false when it failed or timed out. */
  readonly onOutcome: (ok: boolean, cause?: unknown) => void
  /** Monotonic milliseconds, the clock of the operations' `askedAt`. */
  readonly now: () => number
}

export class RedisBatch {
  /** The call being filled (not on Redis Cluster). */
  private pending: Call | undefined
  private byKey: Map<string, Call> | undefined
  private scheduled = false
  /** Calls of the shared path out: while there is one, the pending call waits. */
  private out = 0
  /** Rate decisions in the order they were asked; from `head` on still watched. */
  private readonly rates: RateBatchOp[] = []
  private head = 0
  private watchTimer: NodeJS.Timeout | undefined
  private readonly now: () => number

  constructor(private readonly options: BatchOptions) {
    this.now = options.now
  }

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
    this.rates.push(op)
    if (this.watchTimer === undefined) this.armWatch()
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
        call = new Call(this.now())
        this.byKey.set(key, call)
      }
      return call
    }
    let call = this.pending
    if (call === undefined || call.ops.length + room > MAX_OPS_PER_CALL) {
      // A full call is worth its round trip: it goes now, held or not.
      if (call !== undefined) this.send(call)
      call = this.pending = new Call(this.now())
    }
    return call
  }

  private readonly flush = (): void => {
    this.scheduled = false
    const byKey = this.byKey
    this.byKey = undefined
    if (byKey !== undefined) for (const c of byKey.values()) this.send(c)
    const call = this.pending
    if (call !== undefined && this.out === 0) {
      this.pending = undefined
      this.send(call)
    }
  }

  private send(call: Call): void {
    const shared = !this.options.perKey
    if (shared) this.out++
    // Held calls have used part of the lease deadline already; at least 1 ms for the trip.
    const timeoutMs = Math.max(1, this.options.leaseDeadlineMs - (this.now() - call.createdAt))
    sendBatchScript(this.options.client, call.keys, call.specs, timeoutMs).then(
      (reply) => {
        if (shared) this.sent()
        this.options.onOutcome(true)
        const reader = new ReplyReader(reply)
        for (const op of call.ops) op.answer(reader)
      },
      (err: unknown) => {
        if (shared) this.sent()
        this.options.onOutcome(false, err)
        for (const op of call.ops) op.fail(err)
      },
    )
  }

  /** A call out is answered: the held one goes at the end of this turn. */
  private sent(): void {
    if (--this.out > 0) return
    if (this.pending !== undefined && !this.scheduled) {
      this.scheduled = true
      setImmediate(this.flush)
    }
  }

  /** One timer for the oldest decision not yet answered; it moves on from one to the next. */
  private armWatch(): void {
    const rates = this.rates
    let head = this.head
    while (head < rates.length && rates[head]!.settled) head++
    if (head === rates.length) {
      rates.length = 0
      this.head = 0
      this.watchTimer = undefined
      return
    }
    // Dropped from the front in bulk: shifting one at a time would copy the array each time.
    if (head >= 1024 && head * 2 >= rates.length) {
      rates.splice(0, head)
      head = 0
    }
    this.head = head
    const wait = rates[head]!.askedAt + this.options.rateDeadlineMs - this.now()
    // Timers run before the poll phase reads sockets: after a stall of this process (GC, a
    // busy machine) the answer may already be waiting. Looking again after the poll phase
    // (setImmediate) lets it count, so only a late Redis misses the deadline.
    this.watchTimer = setTimeout(() => setImmediate(this.checkDeadlines), Math.max(0, wait))
    this.watchTimer.unref()
  }

  private readonly checkDeadlines = (): void => {
    const due = this.now() - this.options.rateDeadlineMs
    const rates = this.rates
    let head = this.head
    const late: RateBatchOp[] = []
    for (; head < rates.length && rates[head]!.askedAt <= due; head++) {
      const op = rates[head]!
      if (!op.settled) late.push(op)
    }
    this.head = head
    this.armWatch()
    for (const op of late) op.late()
  }
}
