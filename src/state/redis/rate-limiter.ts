/**
 * GCRA in Redis (scripts.ts BATCH_LUA and gcra.ts), decided in the turn's micro-batch
 * (batch.ts). A key Redis refused is refused locally until the retry time Redis returned
 * (over-limit-cache.ts), without a round trip.
 */
import type { Clock } from '../clock.js'
import { checkRateRequest, emissionIntervalUs } from '../gcra.js'
import type { OverLimitCache } from '../over-limit-cache.js'
import type { RateDecision, RateRule } from '../ports.js'
import type { RateBatchOp, RedisBatch, ReplyReader } from './batch.js'

/** Where the answer to one decision goes: exactly one of these is called, once. */
export interface RateAnswer {
  answered(decision: RateDecision): void
  /** Not answered within the rate deadline. */
  late(): void
  failed(err: unknown): void
}

/** A rule's operation spec for the script, built once per rule object. */
interface RuleSpec {
  readonly head: string
  readonly one: string
}

class RateCall implements RateBatchOp {
  settled = false

  constructor(
    private readonly refusals: OverLimitCache,
    private readonly key: string,
    private readonly limit: number,
    private readonly cost: number,
    readonly askedAt: number,
    private readonly to: RateAnswer,
  ) {}

  answer(reply: ReplyReader): void {
    const first = reply.next()
    const allowed = first >= 0
    const resetUs = reply.next()
    const retryUs = allowed ? 0 : reply.next()
    const d: RateDecision = {
      allowed,
      limit: this.limit,
      remaining: allowed ? first : -first - 1,
      resetMs: resetUs / 1000,
      retryAfterMs: retryUs / 1000,
      error: false,
    }
    // A late answer still tells which keys are over their limit.
    if (!allowed) this.refusals.remember(this.key, this.cost, this.askedAt, d)
    if (this.settled) return
    this.settled = true
    this.to.answered(d)
  }

  late(): void {
    if (this.settled) return
    this.settled = true
    this.to.late()
  }

  fail(err: unknown): void {
    if (this.settled) return
    this.settled = true
    this.to.failed(err)
  }
}

export class RedisRateLimiter {
  private readonly specs = new WeakMap<RateRule, RuleSpec>()

  constructor(
    private readonly batch: RedisBatch,
    private readonly keyPrefix: string,
    private readonly refusals: OverLimitCache,
    private readonly clock: Clock,
  ) {}

  /**
   * A plain value when the key is known to be over its limit; otherwise undefined, and the
   * store's decision, its lateness or its failure goes to `to` once the call is answered.
   */
  decide(key: string, rule: RateRule, cost: number, to: RateAnswer): RateDecision | undefined {
    const spec = this.specFor(rule, cost)
    const known = this.refusals.check(key, cost, rule.limit)
    if (known !== undefined) return known
    const op = new RateCall(this.refusals, key, rule.limit, cost, this.clock.now(), to)
    this.batch.rate(this.keyPrefix + key, cost === 1 ? spec.one : spec.head + String(cost), op)
    return undefined
  }

  /**
   * `decide` as a promise: the decision, or undefined when it did not come within the rate
   * deadline. Rejects when Redis failed.
   */
  consume(key: string, rule: RateRule, cost = 1): RateDecision | Promise<RateDecision | undefined> {
    let answer: RateAnswer | undefined
    const pending = new Promise<RateDecision | undefined>((resolve, reject) => {
      answer = { answered: resolve, late: () => resolve(undefined), failed: reject }
    })
    return this.decide(key, rule, cost, answer!) ?? pending
  }

  /** Validates the rule once per rule object (the cost on every call). */
  private specFor(rule: RateRule, cost: number): RuleSpec {
    let spec = this.specs.get(rule)
    if (spec === undefined) {
      checkRateRequest(rule, cost)
      const head = `r${emissionIntervalUs(rule)},${rule.limit},`
      spec = { head, one: head + '1' }
      this.specs.set(rule, spec)
    } else if (!Number.isInteger(cost) || cost < 0) {
      checkRateRequest(rule, cost)
    }
    return spec
  }
}
