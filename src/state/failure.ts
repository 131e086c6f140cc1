/**
 * What limits do while the shared store (Redis) cannot answer. Each rule has a failure mode:
 *   open    decide with a local in-memory limiter (this replica's share of the limit:
 *           ceil(limit / replicas), replicas = `expectedReplicas` if set, else the live replicas
 *           the membership last saw)
 *   closed  answer with an error decision (rate) or a refusal (concurrency)
 * A hiccup is not an outage. A rate decision Redis has not answered within the command timeout
 * is decided locally for that request only (mode `local-deadline`); an acquire waits for Redis
 * up to the lease deadline and is local only past it. The store is declared unreachable (mode
 * `local-outage`) only after a failure pattern (failure-pattern.ts) or a dropped connection:
 * logged once per transition and reported through `onHealthChange`; from then on no decision
 * waits for Redis and Redis is probed with backoff (100 ms doubling to 5 s, or at once when the
 * connection reports it is back). A probe that succeeds first renews the leases this replica
 * holds and moves its local leases into Redis, then decisions go to Redis again. Nothing made
 * locally is replayed into Redis, and nothing is queued while it is down.
 */
import { silentLogger, type Logger } from '../lib/index.js'
import { systemClock, systemScheduler, type Cancel, type Clock, type Scheduler } from './clock.js'
import { FailurePattern, type FailurePatternOptions } from './failure-pattern.js'
import type { MemoryLimitStore } from './memory/store.js'
import type {
  AcquireOptions,
  ConcurrencyLimiter,
  FailureMode,
  Lease,
  LeasePair,
  LeaseRequest,
  LimitStore,
  LimitStoreHealth,
  RateDecision,
  RateLimiter,
  RateRule,
} from './ports.js'
import type { RateAnswer } from './redis/rate-limiter.js'
import type { ConnectionWatcher } from './redis/store.js'

/**
 * How a decision was made: by the shared store (`store`, a refusal it answered earlier included),
 * locally because this request's answer missed its deadline (`local-deadline`), or locally
 * because the store is declared unreachable (`local-outage`).
 */
export type DecisionMode = 'store' | 'local-deadline' | 'local-outage'

/** Callbacks for metrics and health reporting. */
export interface LimitStoreEvents {
  /** Called once per transition: 'degraded' when the store stops answering, 'ok' when it is back. */
  onHealthChange?(health: LimitStoreHealth): void
  /** Called for each decision made without the shared store (a counter). */
  onDecisionWithoutStore?(kind: 'rate' | 'concurrency', failureMode: FailureMode): void
  /** Called for each decision, with how it was made (a counter). */
  onDecision?(kind: 'rate' | 'concurrency', mode: DecisionMode): void
  /** The live replicas the store's membership sees, when it changes. */
  onMembership?(replicas: number): void
}

/**
 * A store whose calls reject when it cannot answer (the Redis store). A rate decision may also
 * be late (not answered within its deadline) or come as a plain value (a refusal known from an
 * earlier answer).
 */
export interface SharedStore {
  readonly rate: {
    /**
     * A plain value when the store needs no round trip (a refusal it answered earlier);
     * otherwise undefined, and exactly one of `to`'s callbacks follows, never synchronously.
     */
    decide(key: string, rule: RateRule, cost: number, to: RateAnswer): RateDecision | undefined
  }
  readonly concurrency: ConcurrencyLimiter
  /** Live replicas at the last membership beat, undefined before one was answered. */
  liveReplicas(): number | undefined
  /** Resolves when the store answers and this replica's leases are renewed; else rejects. */
  recover(): Promise<void>
  watch(watcher: ConnectionWatcher): void
  close(): Promise<void>
}

export interface FailoverOptions {
  readonly shared: SharedStore
  readonly local: MemoryLimitStore
  /** Whether the shared store answered at startup. Default true. */
  readonly healthy?: boolean
  /**
   * Replicas sharing the limits, overriding the membership: a fail-open local limiter admits
   * ceil(limit / this). Default: the live replicas last seen, 1 before any was seen.
   */
  readonly expectedReplicas?: number
  /** When calls that fail mean the store is unreachable. */
  readonly failurePattern?: FailurePatternOptions
  /** For the failure pattern's window. Default: the monotonic process clock. */
  readonly clock?: Clock
  readonly probeInitialMs?: number
  readonly probeMaxMs?: number
  readonly logger?: Logger
  readonly events?: LimitStoreEvents
  readonly scheduler?: Scheduler
}

export const DEFAULT_PROBE_INITIAL_MS = 100
export const DEFAULT_PROBE_MAX_MS = 5000
const DONE: Promise<void> = Promise.resolve()

export function createFailoverLimitStore(options: FailoverOptions): LimitStore {
  return new FailoverLimitStore(options)
}

/** A lease taken from the local limiter during an outage; moved into Redis when it is back. */
class LocalLease implements Lease {
  released = false

  constructor(
    private inner: Lease,
    readonly key: string,
    readonly max: number,
    readonly options: AcquireOptions,
    private readonly owner: FailoverLimitStore,
  ) {}

  release(): Promise<void> {
    if (this.released) return DONE
    this.released = true
    this.owner.forgetLocal(this)
    return this.inner.release()
  }

  /** Swaps the local slot for a shared one. */
  adopt(shared: Lease): void {
    const local = this.inner
    this.inner = shared
    void local.release()
  }
}

/**
 * One rate decision on its way to the shared store: the answer, or the local decision when it
 * is late or failed, resolves the one promise the caller awaits.
 */
class PendingRate implements RateAnswer {
  private resolve: ((d: RateDecision) => void) | undefined
  private early: RateDecision | undefined

  constructor(
    private readonly owner: FailoverLimitStore,
    private readonly key: string,
    private readonly rule: RateRule,
    private readonly cost: number,
  ) {}

  promise(): Promise<RateDecision> {
    const early = this.early
    if (early !== undefined) return Promise.resolve(early)
    return new Promise((resolve) => {
      this.resolve = resolve
    })
  }

  answered(d: RateDecision): void {
    this.owner.events.onDecision?.('rate', 'store')
    this.settle(d)
  }

  late(): void {
    this.settle(this.owner.consumeWithoutStore(this.key, this.rule, this.cost, 'local-deadline'))
  }

  failed(): void {
    const mode = this.owner.lateMode()
    this.settle(this.owner.consumeWithoutStore(this.key, this.rule, this.cost, mode))
  }

  private settle(d: RateDecision): void {
    if (this.resolve !== undefined) this.resolve(d)
    else this.early = d
  }
}

class FailoverLimitStore implements LimitStore, RateLimiter, ConcurrencyLimiter {
  readonly rate: RateLimiter = this
  readonly concurrency: ConcurrencyLimiter = this
  private healthy: boolean
  private readonly expectedReplicas: number | undefined
  private readonly localRules = new WeakMap<RateRule, { replicas: number; rule: RateRule }>()
  private readonly failures: FailurePattern
  private readonly localLeases = new Set<LocalLease>()
  private readonly shared: SharedStore
  private readonly local: MemoryLimitStore
  private readonly logger: Logger
  readonly events: LimitStoreEvents
  private readonly scheduler: Scheduler
  private readonly probeInitialMs: number
  private readonly probeMaxMs: number
  private probeDelayMs: number
  private probeTimer: Cancel | undefined
  private probing = false
  private closed = false

  constructor(options: FailoverOptions) {
    this.shared = options.shared
    this.local = options.local
    this.logger = options.logger ?? silentLogger
    this.events = options.events ?? {}
    this.scheduler = options.scheduler ?? systemScheduler
    const expected = options.expectedReplicas
    if (expected !== undefined && (!Number.isInteger(expected) || expected < 1)) {
      throw new RangeError(`expectedReplicas must be a positive integer, got ${expected}`)
    }
    this.expectedReplicas = expected
    this.failures = new FailurePattern(options.clock ?? systemClock, options.failurePattern)
    this.probeInitialMs = options.probeInitialMs ?? DEFAULT_PROBE_INITIAL_MS
    this.probeMaxMs = options.probeMaxMs ?? DEFAULT_PROBE_MAX_MS
    this.probeDelayMs = this.probeInitialMs
    this.healthy = options.healthy ?? true
    this.shared.watch({
      onDown: (cause) => this.markDegraded(cause),
      onUp: () => this.probeSoon(),
      onOutcome: (ok, cause) => {
        if (this.failures.record(ok) && !ok) this.markDegraded(cause)
      },
      onMembership: (size) => this.events.onMembership?.(size),
    })
    // The first beat was answered while connecting, before this watcher existed.
    const members = this.shared.liveReplicas()
    if (members !== undefined) this.events.onMembership?.(members)
    if (!this.healthy) {
      this.logger.warn(
        'limit store unreachable at startup; limits decided locally until it answers',
      )
      this.scheduleProbe()
    }
  }

  health(): LimitStoreHealth {
    return this.healthy ? 'ok' : 'degraded'
  }

  /** The replicas a local share is computed for. */
  replicas(): number {
    return this.expectedReplicas ?? this.shared.liveReplicas() ?? 1
  }

  consume(key: string, rule: RateRule, cost = 1): Promise<RateDecision> | RateDecision {
    if (!this.healthy) return this.consumeWithoutStore(key, rule, cost, 'local-outage')
    const pending = new PendingRate(this, key, rule, cost)
    const known = this.shared.rate.decide(key, rule, cost, pending)
    if (known === undefined) return pending.promise()
    this.events.onDecision?.('rate', 'store')
    return known
  }

  acquire(key: string, max: number, options: AcquireOptions): Promise<Lease | undefined> {
    if (!this.healthy) {
      return Promise.resolve(this.acquireWithoutStore(key, max, options, 'local-outage'))
    }
    return this.shared.concurrency.acquire(key, max, options).then(
      (lease) => {
        this.events.onDecision?.('concurrency', 'store')
        return lease
      },
      // Past the lease deadline or failed: this request follows its failure mode.
      () => this.acquireWithoutStore(key, max, options, this.lateMode()),
    )
  }

  acquirePair(
    first: LeaseRequest,
    second: LeaseRequest,
    options: AcquireOptions,
  ): Promise<LeasePair> {
    if (!this.healthy) {
      return Promise.resolve(this.pairWithoutStore(first, second, options, 'local-outage'))
    }
    return this.shared.concurrency.acquirePair(first, second, options).then(
      (pair) => {
        this.events.onDecision?.('concurrency', 'store')
        if (pair[0] !== undefined) this.events.onDecision?.('concurrency', 'store')
        return pair
      },
      () => this.pairWithoutStore(first, second, options, this.lateMode()),
    )
  }

  private pairWithoutStore(
    first: LeaseRequest,
    second: LeaseRequest,
    options: AcquireOptions,
    decidedAs: DecisionMode,
  ): LeasePair {
    const a = this.acquireWithoutStore(first.key, first.max, options, decidedAs)
    if (a === undefined) return [undefined, undefined]
    return [a, this.acquireWithoutStore(second.key, second.max, options, decidedAs)]
  }

  private acquireWithoutStore(
    key: string,
    max: number,
    options: AcquireOptions,
    decidedAs: DecisionMode,
  ): Lease | undefined {
    const mode = options.failureMode ?? 'open'
    this.events.onDecisionWithoutStore?.('concurrency', mode)
    this.events.onDecision?.('concurrency', decidedAs)
    if (mode === 'closed') return undefined
    const inner = this.local.concurrency.acquireNow(key, Math.ceil(max / this.replicas()), options)
    if (inner === undefined) return undefined
    const lease = new LocalLease(inner, key, max, options, this)
    this.localLeases.add(lease)
    // Only this request missed the deadline: try once to hold its slot in the store as well,
    // so the shared count includes it (a declared outage leaves that to the probe).
    if (decidedAs === 'local-deadline') this.adoptLater(lease)
    return lease
  }

  private adoptLater(lease: LocalLease): void {
    this.shared.concurrency.acquire(lease.key, lease.max, lease.options).then(
      (slot) => {
        if (slot === undefined || !this.localLeases.has(lease)) {
          if (slot !== undefined) void slot.release()
          return
        }
        lease.adopt(slot)
        this.localLeases.delete(lease)
      },
      () => undefined,
    )
  }

  async count(key: string): Promise<number> {
    if (this.healthy) {
      try {
        return await this.shared.concurrency.count(key)
      } catch (err) {
        this.markDegraded(err)
      }
    }
    return this.local.concurrency.count(key)
  }

  forgetLocal(lease: LocalLease): void {
    this.localLeases.delete(lease)
  }

  async close(): Promise<void> {
    this.closed = true
    this.probeTimer?.()
    this.probeTimer = undefined
    await Promise.all([this.shared.close(), this.local.close()])
  }

  /** A call that failed while healthy decided that request; once declared down, all of them. */
  lateMode(): DecisionMode {
    return this.healthy ? 'local-deadline' : 'local-outage'
  }

  consumeWithoutStore(
    key: string,
    rule: RateRule,
    cost: number,
    decidedAs: DecisionMode,
  ): RateDecision {
    const mode = rule.failureMode ?? 'open'
    this.events.onDecisionWithoutStore?.('rate', mode)
    this.events.onDecision?.('rate', decidedAs)
    if (mode === 'closed') {
      return {
        allowed: false,
        limit: rule.limit,
        remaining: 0,
        resetMs: 0,
        retryAfterMs: 0,
        error: true,
      }
    }
    return this.local.rate.consume(key, this.localRule(rule), cost)
  }

  /**
   * This replica's share of a rule; the same object per rule while the fleet keeps its size, so
   * no allocation per decision.
   */
  private localRule(rule: RateRule): RateRule {
    const replicas = this.replicas()
    if (replicas === 1) return rule
    const known = this.localRules.get(rule)
    if (known !== undefined && known.replicas === replicas) return known.rule
    const local = { ...rule, limit: Math.ceil(rule.limit / replicas) }
    this.localRules.set(rule, { replicas, rule: local })
    return local
  }

  private markDegraded(cause: unknown): void {
    if (!this.healthy || this.closed) return
    this.healthy = false
    this.probeDelayMs = this.probeInitialMs
    this.logger.warn(
      'limit store unreachable; fail-open limits decided locally, fail-closed refused',
      {
        err: cause,
      },
    )
    this.events.onHealthChange?.('degraded')
    this.scheduleProbe()
  }

  private scheduleProbe(): void {
    if (this.closed || this.probeTimer !== undefined || this.probing) return
    this.probeTimer = this.scheduler.after(this.probeDelayMs, () => {
      this.probeTimer = undefined
      void this.probe()
    })
  }

  /** The connection says it is back: probe now rather than at the next backoff step. */
  private probeSoon(): void {
    if (this.healthy || this.closed || this.probing) return
    this.probeTimer?.()
    this.probeTimer = undefined
    void this.probe()
  }

  private async probe(): Promise<void> {
    if (this.healthy || this.closed || this.probing) return
    this.probing = true
    try {
      await this.shared.recover()
      await this.adoptLocalLeases()
    } catch {
      this.probing = false
      this.probeDelayMs = Math.min(this.probeDelayMs * 2, this.probeMaxMs)
      this.scheduleProbe()
      return
    }
    this.probing = false
    if (this.closed) return
    this.failures.reset()
    this.healthy = true
    this.logger.info('limit store reachable again; limits shared through it')
    this.events.onHealthChange?.('ok')
  }

  /**
   * Leases granted locally during the outage take a slot in Redis before new admissions go
   * there, so the shared count includes them. Where the shared limit is already full they stay
   * local until released.
   */
  private async adoptLocalLeases(): Promise<void> {
    const pending = [...this.localLeases]
    const outcomes = await Promise.allSettled(
      pending.map((l) => this.shared.concurrency.acquire(l.key, l.max, l.options)),
    )
    let failed = false
    let reason: unknown
    for (let i = 0; i < pending.length; i++) {
      const lease = pending[i]!
      const outcome = outcomes[i]!
      if (outcome.status === 'rejected') {
        if (!failed) reason = outcome.reason
        failed = true
        continue
      }
      const slot = outcome.value
      if (slot === undefined) continue
      if (lease.released) {
        void slot.release()
        continue
      }
      lease.adopt(slot)
      this.localLeases.delete(lease)
    }
    if (failed) throw reason instanceof Error ? reason : new Error('lease adoption failed')
  }
}
