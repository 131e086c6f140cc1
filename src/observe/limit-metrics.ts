/** Metrics for rate and concurrency limits and the store behind them. */
import { Counter, Gauge, type Registry } from 'prom-client'
import type { LimitObserver, RateLimitOutcome } from './events.js'

export function createLimitMetrics(registry: Registry): LimitObserver {
  const decisions = new Counter({
    name: 'portcullis_ratelimit_decisions_total',
    help: 'Rate-limit rule decisions by policy (ns/name), rule index and outcome: ok, over_limit (429), shadow_over_limit (counted, not rejected), error (store failed, rule fails closed: 500 RLSE).',
    labelNames: ['policy', 'rule', 'outcome'] as const,
    registers: [registry],
  })
  const health = new Gauge({
    name: 'portcullis_limit_store_degraded',
    help: '1 while the shared limit store (Redis) is unreachable and limits are decided locally.',
    registers: [registry],
  })
  health.set(0)
  const withoutStore = new Counter({
    name: 'portcullis_limit_decisions_without_store_total',
    help: 'Limit decisions made while Redis was unreachable, by kind and failure mode.',
    labelNames: ['kind', 'mode'] as const,
    registers: [registry],
  })
  const byMode = new Counter({
    name: 'portcullis_limit_decisions_total',
    help: 'Limit decisions of the shared store (Redis, or the primary for workers) by kind (rate, concurrency) and how they were made: store, local-deadline (the answer missed its deadline; decided locally for that request with the local share), local-outage (the store is declared unreachable).',
    labelNames: ['kind', 'mode'] as const,
    registers: [registry],
  })
  // Bound once: the decision path increments a child, no label lookup per decision.
  const modeChildren = {
    rate: {
      store: byMode.labels('rate', 'store'),
      'local-deadline': byMode.labels('rate', 'local-deadline'),
      'local-outage': byMode.labels('rate', 'local-outage'),
    },
    concurrency: {
      store: byMode.labels('concurrency', 'store'),
      'local-deadline': byMode.labels('concurrency', 'local-deadline'),
      'local-outage': byMode.labels('concurrency', 'local-outage'),
    },
  }
  const replicas = new Gauge({
    name: 'portcullis_limit_store_replicas',
    help: 'Live replicas sharing the limits, as the Redis membership last saw them (each replica beats every third of redis.leaseTtl); the local share while Redis cannot answer is ceil(limit / this) unless redis.expectedReplicas is set.',
    registers: [registry],
  })
  const refused = new Counter({
    name: 'portcullis_downstream_connections_refused_total',
    help: 'Downstream connections closed at accept over the listener cap (GatewayConfig downstream.maxConnections, maxConnectionsPerClient), by listener and reason.',
    labelNames: ['listener', 'reason'] as const,
    registers: [registry],
  })
  return {
    onConnectionRefused(listener, reason) {
      refused.inc({ listener, reason })
    },
    onRateLimit(policy: string, rule: number, outcome: RateLimitOutcome) {
      decisions.inc({ policy, rule: String(rule), outcome })
    },
    onStoreHealth(h) {
      health.set(h === 'degraded' ? 1 : 0)
    },
    onDecisionWithoutStore(kind, mode) {
      withoutStore.inc({ kind, mode })
    },
    onLimitDecision(kind, mode) {
      modeChildren[kind][mode].inc()
    },
    onMembership(n) {
      replicas.set(n)
    },
  }
}
