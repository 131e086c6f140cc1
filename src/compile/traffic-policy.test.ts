import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { compileClusterPolicy, mergeTrafficPolicy } from './traffic-policy.js'

describe('DestinationRule traffic policy merge (Istio MergeTrafficPolicy)', () => {
  const top = {
    loadBalancer: { simple: 'RANDOM' as const },
    connectionPool: { tcp: { maxConnections: 7 } },
    outlierDetection: { consecutive5xxErrors: 3 },
    portLevelSettings: [
      { port: { number: 8080 }, loadBalancer: { simple: 'LEAST_CONN' as const } },
    ],
  }

  test('port-level settings replace all four components; omitted ones fall back to defaults', () => {
    const c = mergeTrafficPolicy(top, undefined, 8080)
    assert.deepEqual(c, { loadBalancer: { simple: 'LEAST_CONN' } })
    const { policy } = compileClusterPolicy(c, 'svc.test')
    assert.deepEqual(policy, { loadBalancer: { kind: 'LEAST_REQUEST' } })
  })

  test('another port keeps the top level', () => {
    const c = mergeTrafficPolicy(top, undefined, 80)
    assert.equal(c.connectionPool?.tcp?.maxConnections, 7)
    assert.deepEqual(c.loadBalancer, { simple: 'RANDOM' })
  })

  test('a subset overrides whole components and keeps the others', () => {
    const subset = { connectionPool: { http: { http1MaxPendingRequests: 1 } } }
    const c = mergeTrafficPolicy(top, subset, 80)
    // Whole component replaced: the top-level maxConnections does not survive.
    assert.deepEqual(c.connectionPool, { http: { http1MaxPendingRequests: 1 } })
    assert.deepEqual(c.loadBalancer, { simple: 'RANDOM' })
    assert.deepEqual(c.outlierDetection, { consecutive5xxErrors: 3 })
  })

  test("a subset's port-level settings replace everything for that port", () => {
    const subset = {
      loadBalancer: { simple: 'ROUND_ROBIN' as const },
      portLevelSettings: [{ port: { number: 80 }, outlierDetection: {} }],
    }
    const c = mergeTrafficPolicy(top, subset, 80)
    assert.deepEqual(c, { outlierDetection: {} })
    const { policy } = compileClusterPolicy(c, 'svc.test')
    // An empty block turns detection on with Istio's defaults.
    assert.deepEqual(policy?.outlierDetection, {
      consecutive5xxErrors: 5,
      consecutiveGatewayErrors: 0,
      consecutiveLocalOriginFailures: 5,
      splitExternalLocalOriginErrors: false,
      intervalMs: 10_000,
      baseEjectionTimeMs: 30_000,
      maxEjectionPercent: 10,
      minHealthPercent: 0,
    })
  })

  test('connectTimeout, pool limits and consistent hash compile', () => {
    const { policy, connectTimeoutMs } = compileClusterPolicy(
      {
        connectionPool: {
          tcp: { maxConnections: 1, connectTimeout: 250 },
          http: { http1MaxPendingRequests: 1, maxRetries: 2, idleTimeout: 0 },
        },
        loadBalancer: {
          consistentHash: { httpCookie: { name: 'sticky', ttl: 60_000, path: '/' } },
        },
      },
      'svc.test',
    )
    assert.equal(connectTimeoutMs, 250)
    assert.deepEqual(policy?.connectionPool, {
      maxConnections: 1,
      maxPendingRequests: 1,
      maxRetries: 2,
      idleTimeoutMs: 0,
    })
    assert.deepEqual(policy?.loadBalancer, {
      kind: 'CONSISTENT_HASH',
      key: { kind: 'cookie', name: 'sticky', path: '/', ttlMs: 60_000 },
      ringSize: 1024,
    })
  })
})
