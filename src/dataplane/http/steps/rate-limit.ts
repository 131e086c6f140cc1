/**
 * The rate-limit step: every rule of the route's policies that matches the request takes one
 * unit from its key's bucket. Over any enforced rule → 429 RL (Envoy's ratelimit filter:
 * `x-envoy-ratelimited: true`); a fail-closed store error → 500 RLSE; shadow rules count and
 * report only. `RateLimit-*` headers (the most restrictive enforced rule) go on every response.
 * The memory store answers synchronously, so nothing awaits unless Redis is consulted.
 */
import { matchRoute } from '../../../match/index.js'
import type { RateDecision } from '../../../state/ports.js'
import type { RequestContext } from '../context.js'
import { Flag } from '../../record/flags.js'
import { replyToBug, sendLocalReply } from '../local-reply.js'
import type { PreparedRateLimits, PreparedRateRule } from '../rate-limit-policy.js'
import type { Next, RequestStep } from '../step.js'

export const rateLimitStep: RequestStep<PreparedRateLimits> = {
  name: 'rate-limit',
  prepare: ({ rateLimits }) => rateLimits,
  run: (ctx, limits, next) => !applyRateLimits(ctx, limits, next),
}

/**
 * Returns false when the request may go on right now; true when this step answered it or will
 * call `next` once the store has answered.
 */
function applyRateLimits(ctx: RequestContext, limits: PreparedRateLimits, next: Next): boolean {
  let applied: PreparedRateRule[] | undefined
  let decisions: (RateDecision | Promise<RateDecision>)[] | undefined
  let isPending = false
  const rules = limits.rules
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!
    if (rule.match !== undefined && matchRoute(rule.match, ctx) === undefined) continue
    const d = limits.limiter.consume(rule.keyPrefix + keyValues(ctx, rule), rule.rule)
    if (d instanceof Promise) isPending = true
    ;(applied ??= []).push(rule)
    ;(decisions ??= []).push(d)
  }
  if (applied === undefined || decisions === undefined) return false
  if (!isPending) return conclude(ctx, limits, applied, decisions as RateDecision[])
  const rulesApplied = applied
  const onAnswers = (ds: readonly RateDecision[]): void => {
    if (ctx.closed) return
    let isAnswered = true
    try {
      isAnswered = conclude(ctx, limits, rulesApplied, ds)
    } catch (err) {
      replyToBug(ctx.env, ctx, ctx.res, err)
    }
    if (!isAnswered) next(ctx)
  }
  const onError = (err: unknown): void => replyToBug(ctx.env, ctx, ctx.res, err)
  // One rule (the common case) waits on its own promise, without Promise.all's.
  if (decisions.length === 1) {
    ;(decisions[0] as Promise<RateDecision>).then((d) => onAnswers([d]), onError)
  } else Promise.all(decisions.map((d) => Promise.resolve(d))).then(onAnswers, onError)
  return true
}

function keyValues(ctx: RequestContext, rule: PreparedRateRule): string {
  const by = rule.by
  let key = ''
  for (let i = 0; i < by.length; i++) {
    const part = by[i]!
    if (i > 0) key += '|'
    switch (part.kind) {
      case 'clientIp':
        key += ctx.peer
        break
      case 'host':
        key += ctx.authority.toLowerCase()
        break
      case 'route':
        key += ctx.route?.route.id ?? ''
        break
      case 'header':
        key += ctx.header(part.name) ?? ''
        break
    }
  }
  return key
}

/** Answers 429/500 and returns true, or sets the RateLimit headers and returns false. */
function conclude(
  ctx: RequestContext,
  limits: PreparedRateLimits,
  rules: readonly PreparedRateRule[],
  decisions: readonly RateDecision[],
): boolean {
  let tightest: RateDecision | undefined
  let refused: RateDecision | undefined
  let isError = false
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!
    const d = decisions[i]!
    const outcome = d.error
      ? 'error'
      : d.allowed
        ? 'ok'
        : rule.shadow
          ? 'shadow_over_limit'
          : 'over_limit'
    limits.observer.onRateLimit(rule.policy, rule.index, outcome)
    if (rule.shadow) {
      if (outcome !== 'ok') {
        ctx.env.log.info('rate limit exceeded in shadow mode', {
          requestId: ctx.requestId,
          policy: rule.policy,
          rule: rule.index,
          outcome,
        })
      }
      continue
    }
    if (d.error) isError = true
    else if (!d.allowed && (refused === undefined || d.retryAfterMs > refused.retryAfterMs)) {
      refused = d
    }
    if (!d.error && (tightest === undefined || d.remaining < tightest.remaining)) tightest = d
  }
  if (isError) {
    sendLocalReply(ctx, 500, Flag.RLSE, 'rate_limiter_error')
    return true
  }
  const shown = refused ?? tightest
  if (shown !== undefined) {
    ;(ctx.extraResponseHeaders ??= []).push(
      'ratelimit-limit',
      String(shown.limit),
      'ratelimit-remaining',
      String(shown.remaining),
      'ratelimit-reset',
      String(Math.ceil(shown.resetMs / 1000)),
    )
  }
  if (refused === undefined) return false
  sendLocalReply(ctx, 429, Flag.RL, 'request_rate_limited', undefined, undefined, [
    'x-envoy-ratelimited',
    'true',
    'retry-after',
    String(Math.max(1, Math.ceil(refused.retryAfterMs / 1000))),
  ])
  return true
}
