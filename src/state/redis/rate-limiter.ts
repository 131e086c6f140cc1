/** GCRA in Redis: one script call per decision (see scripts.ts RATE_LUA and gcra.ts). */
import { checkRateRequest, emissionIntervalUs } from '../gcra.js'
import type { RateDecision, RateRule } from '../ports.js'
import type { RateReply, ScriptedClient } from './scripts.js'

export class RedisRateLimiter {
  constructor(
    private readonly client: ScriptedClient,
    private readonly keyPrefix: string,
  ) {}

  /** Rejects when Redis fails or does not answer within the command timeout. */
  consume(key: string, rule: RateRule, cost = 1): Promise<RateDecision> {
    checkRateRequest(rule, cost)
    const limit = rule.limit
    return this.client
      .limitRate(this.keyPrefix + key, emissionIntervalUs(rule), limit, cost)
      .then((reply) => toDecision(reply, limit))
  }
}

function toDecision(reply: RateReply, limit: number): RateDecision {
  return {
    allowed: reply[0] === 1,
    limit,
    remaining: reply[1],
    resetMs: reply[2] / 1000,
    retryAfterMs: reply[3] / 1000,
    error: false,
  }
}
