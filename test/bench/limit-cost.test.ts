// The limit cost lines of the bench (formatLimitCost): the fixed-rate differences to 0.01 ms,
// checked against the Redis limit's latency bound, per round and as the median of the rounds.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { formatLimitCost } from '../../bench/report.js'
import type { TargetResult } from '../../bench/report.js'
import type { LoadResult } from '../../bench/load.js'

function load(p50: number, p99: number, lag: number): LoadResult {
  return {
    requestsPerSecond: 1000,
    requests: 5000,
    latencyP50Ms: p50,
    latencyP99Ms: p99,
    latencyMaxMs: p99,
    errors: 0,
    timeouts: 0,
    non2xx: 0,
    sendLagP99Ms: lag,
  }
}

function result(
  target: TargetResult['target'],
  round: number,
  p50: number,
  p99: number,
  lag = 0.5,
): TargetResult {
  return {
    target,
    description: target,
    round,
    load: load(p50 * 5, p99 * 5, lag),
    fixedRate: { ...load(p50, p99, lag), rate: 1000 },
  }
}

describe('formatLimitCost at 1 000 req/s', () => {
  test('an added p50 of 0.3 ms and p99 of 1.2 ms is within the bound', () => {
    const lines = formatLimitCost([
      result('portcullis', 1, 0.81, 2.4),
      result('portcullis-redis-limit', 1, 1.11, 3.6),
    ])
    assert.ok(
      lines.includes(
        '  at 1000 req/s: p50 +0.30 ms (0.81 → 1.11), p99 +1.20 ms (2.40 → 3.60) (bound p50 +0.5, p99 +2 ms: ok)',
      ),
      lines.join('\n'),
    )
  })

  test('0.6 ms more at p50 misses it', () => {
    const lines = formatLimitCost([
      result('portcullis', 1, 0.81, 2.4),
      result('portcullis-redis-limit', 1, 1.41, 2.5),
    ])
    assert.ok(
      lines.some((l) => l.endsWith('p99 +2 ms: MISSED)')),
      lines.join('\n'),
    )
  })

  test('a load client that sent late by more than the p99 bound makes the run not valid', () => {
    const lines = formatLimitCost([
      result('portcullis', 1, 0.81, 2.4, 6.62),
      result('portcullis-redis-limit', 1, 0.9, 2.5),
    ])
    assert.ok(
      lines.some((l) => l.endsWith('NOT VALID, the load client sent up to 6.62 ms late at p99)')),
      lines.join('\n'),
    )
  })

  test('with rounds, each round is compared within itself and the median is judged', () => {
    const lines = formatLimitCost([
      result('portcullis', 1, 1.0, 3.0),
      result('portcullis-redis-limit', 1, 1.2, 4.0),
      result('portcullis', 2, 2.0, 9.0),
      result('portcullis-redis-limit', 2, 2.1, 9.5),
      result('portcullis', 3, 1.0, 3.0),
      result('portcullis-redis-limit', 3, 2.0, 8.0),
    ])
    assert.ok(lines.some((l) => l.startsWith('Redis rate limit (never hit) vs none (round 2)')))
    assert.ok(
      lines.includes(
        'Redis rate limit (never hit) vs none, median of 3 rounds: 1.00x the req/s; at 1000 req/s p50 +0.20 ms, p99 +1.00 ms (bound p50 +0.5, p99 +2 ms: ok)',
      ),
      lines.join('\n'),
    )
  })
})
