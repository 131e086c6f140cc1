/**
 * GCRA in Redis (scripts.ts BATCH_LUA and gcra.ts), decided in the turn's micro-batch
 * (batch.ts). A key Redis refused is refused locally until the retry time Redis returned
 * (over-limit-cache.ts), without a round trip.
 */
import type { Clock } from '../clock.js'
import { checkRateRequest, emissionIntervalUs } from '../gcra.js'
import type { OverLimitCache } from '../over-limit-cache.js'
import type { RateDecision, RateRule } from '../ports.js'
import type { RateReplyValues, RedisBatch } from './batch.js'

export class RedisRateLimiter {
  constructor(
    private readonly batch: RedisBatch,
    private readonly keyPrefix: string,
    private readonly refusals: OverLimitCache,
    private readonly clock: Clock,
  ) {}

  /**
   * A plain value when the key is known to be over its limit; otherwise the store's decision,
   * or undefined when it did not come within the rate deadline. Rejects when Redis failed.
   */
  consume(key: string, rule: RateRule, cost = 1): RateDecision | Promise<RateDecision | undefined> {
    checkRateRequest(rule, cost)
    const known = this.refusals.check(key, cost, rule.limit)
    if (known !== undefined) return known
    const limit = rule.limit
    const sentAt = this.clock.now()
    return this.batch
      .rate(this.keyPrefix + key, emissionIntervalUs(rule), limit, cost)
      .then((reply) => {
        if (reply === undefined) return undefined
        const d = toDecision(reply, limit)
        if (!d.allowed) this.refusals.remember(key, cost, sentAt, d)
        return d
      })
  }
}

function toDecision(reply: RateReplyValues, limit: number): RateDecision {
  return {
    allowed: reply[0] === 1,
    limit,
    remaining: reply[1],
    resetMs: reply[2] / 1000,
    retryAfterMs: reply[3] / 1000,
    error: false,
  }
}
