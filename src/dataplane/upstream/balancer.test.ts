// The load balancers and outlier ejection over real endpoint records: which endpoint a pick
// returns, how retries avoid tried ones, and when consecutive errors eject an endpoint.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Pool } from 'undici'
import type * as ir from '../../ir/index.js'
import { silentLogger } from '../../lib/index.js'
import { createBalancer, hashString } from './balancer.js'
import { endpointAddress } from './endpoint.js'
import type { UpstreamEndpoint } from './endpoint.js'
import { OutlierDetector } from './outlier.js'

function endpoints(n: number): UpstreamEndpoint[] {
  return Array.from({ length: n }, (_, i) => ({
    address: endpointAddress(`10.0.0.${i + 1}`, 80),
    ip: `10.0.0.${i + 1}`,
    port: 80,
    weight: 1,
    // The balancers never touch the connection pools.
    pool: undefined as unknown as Pool,
    h2Pool: undefined,
    poolKey: `10.0.0.${i + 1}:80`,
    servername: undefined,
    active: 0,
    consecutive5xx: 0,
    consecutiveGateway: 0,
    consecutiveLocal: 0,
    ejectedUntil: 0,
    ejections: 0,
  }))
}

const NOW = 1_000_000

describe('balancers', () => {
  test('round robin visits every endpoint evenly', () => {
    const eps = endpoints(3)
    const lb = createBalancer(undefined, eps)
    const counts = new Map<string, number>()
    for (let i = 0; i < 300; i++) {
      const e = lb.pick(undefined, undefined, NOW)!
      counts.set(e.address, (counts.get(e.address) ?? 0) + 1)
    }
    assert.deepEqual([...counts.values()], [100, 100, 100])
  })

  test('a retry avoids the endpoints already tried while others are left', () => {
    const eps = endpoints(3)
    const lb = createBalancer({ kind: 'RANDOM' }, eps)
    for (let i = 0; i < 50; i++) {
      const e = lb.pick(undefined, [eps[0]!, eps[1]!], NOW)
      assert.equal(e, eps[2])
    }
    assert.ok(eps.includes(lb.pick(undefined, eps, NOW)!), 'all tried: any available one')
  })

  test('least request prefers the endpoint with fewer requests in flight', () => {
    const eps = endpoints(2)
    eps[0]!.active = 10
    const lb = createBalancer({ kind: 'LEAST_REQUEST' }, eps)
    for (let i = 0; i < 20; i++) assert.equal(lb.pick(undefined, undefined, NOW), eps[1])
  })

  test('consistent hash: the same key always reaches the same endpoint', () => {
    const eps = endpoints(5)
    const lb = createBalancer(
      { kind: 'CONSISTENT_HASH', key: { kind: 'header', name: 'x-user' }, ringSize: 1024 },
      eps,
    )
    for (const user of ['alice', 'bob', 'carol']) {
      const first = lb.pick(hashString(user), undefined, NOW)
      for (let i = 0; i < 10; i++) assert.equal(lb.pick(hashString(user), undefined, NOW), first)
    }
  })

  test('an ejected endpoint is skipped until its ejection ends', () => {
    const eps = endpoints(2)
    eps[0]!.ejectedUntil = NOW + 1000
    const lb = createBalancer(undefined, eps)
    for (let i = 0; i < 10; i++) assert.equal(lb.pick(undefined, undefined, NOW), eps[1])
    const later = new Set([0, 1, 2, 3].map(() => lb.pick(undefined, undefined, NOW + 2000)))
    assert.equal(later.size, 2, 'back in rotation after the ejection time')
  })
})

const OUTLIER: ir.OutlierDetectionPolicy = {
  consecutive5xxErrors: 3,
  consecutiveGatewayErrors: 0,
  consecutiveLocalOriginFailures: 2,
  splitExternalLocalOriginErrors: true,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionPercent: 50,
  minHealthPercent: 0,
}

describe('outlier detection', () => {
  test('consecutive 5xx eject an endpoint for the base ejection time; a 2xx resets the count', () => {
    const eps = endpoints(2)
    const od = new OutlierDetector(OUTLIER, 'c', silentLogger)
    const e = eps[0]!
    od.onStatus(e, 503, eps, NOW)
    od.onStatus(e, 503, eps, NOW)
    od.onStatus(e, 200, eps, NOW)
    od.onStatus(e, 503, eps, NOW)
    od.onStatus(e, 503, eps, NOW)
    assert.equal(e.ejectedUntil, 0, 'the 200 reset the count')
    od.onStatus(e, 503, eps, NOW)
    assert.equal(e.ejectedUntil, NOW + 30_000)
  })

  test('maxEjectionPercent keeps the rest in rotation', () => {
    const eps = endpoints(2)
    const od = new OutlierDetector(OUTLIER, 'c', silentLogger)
    for (const e of eps) for (let i = 0; i < 3; i++) od.onStatus(e, 503, eps, NOW)
    assert.equal(eps.filter((e) => e.ejectedUntil > NOW).length, 1)
  })

  test('local-origin failures eject on their own threshold when split', () => {
    const eps = endpoints(2)
    const od = new OutlierDetector(OUTLIER, 'c', silentLogger)
    od.onLocalFailure(eps[0]!, eps, NOW)
    assert.equal(eps[0]!.ejectedUntil, 0)
    od.onLocalFailure(eps[0]!, eps, NOW)
    assert.ok(eps[0]!.ejectedUntil > NOW)
  })
})
