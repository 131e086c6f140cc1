import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type * as ir from '../../ir/index.js'
import { silentLogger } from '../../lib/index.js'
import { createUpstreamRegistry } from './registry.js'
import type { UpstreamRegistry } from './registry.js'
import { startTestDnsServer } from '../../../test/support/dns-server.js'
import type { ClusterRuntime } from './cluster-runtime.js'

function cluster(
  endpoints: readonly [string, number][],
  over: Partial<ir.Cluster> = {},
): ir.Cluster {
  return {
    id: 'outbound|80||svc.example.com',
    host: 'svc.example.com',
    port: 80,
    protocol: 'HTTP',
    resolution: 'STATIC',
    endpoints: endpoints.map(([address, port]) => ({ address, port, weight: 1, labels: {} })),
    dnsRefreshMs: 60_000,
    connectTimeoutMs: 1000,
    source: {
      kind: 'ServiceEntry',
      namespace: 'default',
      name: 'svc',
      path: 'spec',
      file: 'gateway.yaml',
      line: 1,
    },
    ...over,
  }
}

function registry(t: { after(fn: () => unknown): void }, dnsServer?: string): UpstreamRegistry {
  const r = createUpstreamRegistry({
    log: silentLogger,
    ...(dnsServer !== undefined ? { dns: { servers: [dnsServer], timeoutMs: 100, tries: 1 } } : {}),
  })
  t.after(() => r.close())
  return r
}

const addresses = (rt: ClusterRuntime): string[] => rt.endpoints.map((e) => e.address)

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (cond()) return
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('reloads', () => {
  test('an unchanged cluster keeps its runtime, pools and round-robin position', (t) => {
    const reg = registry(t)
    const c = cluster([
      ['10.0.0.1', 80],
      ['10.0.0.2', 80],
    ])
    const first = reg.acquire(c)
    const picked = first.pick(undefined)
    // The next snapshot has an equal (not identical) cluster.
    const second = reg.acquire(structuredClone(c))
    assert.equal(second, first)
    assert.notEqual(second.pick(undefined), picked, 'the cursor carried on')
    reg.release(first)
    assert.deepEqual(reg.stats(), { clusters: 1, pools: 2 })
    reg.release(second)
    assert.deepEqual(reg.stats(), { clusters: 0, pools: 0 })
  })

  test('changed endpoints get a new runtime; pools of addresses still in use are shared', (t) => {
    const reg = registry(t)
    const old = reg.acquire(
      cluster([
        ['10.0.0.1', 80],
        ['10.0.0.2', 80],
      ]),
    )
    const next = reg.acquire(
      cluster([
        ['10.0.0.2', 80],
        ['10.0.0.3', 80],
      ]),
    )
    assert.notEqual(next, old)
    assert.equal(next.endpoints[0]?.pool, old.endpoints[1]?.pool)
    assert.deepEqual(reg.stats(), { clusters: 2, pools: 3 })
    // The old snapshot is retired: its runtime goes, the shared pool stays.
    reg.release(old)
    assert.deepEqual(reg.stats(), { clusters: 1, pools: 2 })
    assert.equal(addresses(old).length, 0)
    assert.deepEqual(addresses(next), ['10.0.0.2:80', '10.0.0.3:80'])
  })
})

describe('DNS clusters', () => {
  test('every address of the answer is an endpoint, refreshed after the TTL', async (t) => {
    const dns = await startTestDnsServer()
    t.after(() => dns.close())
    dns.records.set('api.test', ['10.1.0.1', '10.1.0.2'])
    const reg = registry(t, dns.address)
    const rt = reg.acquire(cluster([['api.test', 8080]], { resolution: 'DNS', dnsRefreshMs: 20 }))
    assert.ok(rt.resolving !== undefined, 'the first answer is awaited')
    await rt.resolving
    assert.deepEqual(addresses(rt), ['10.1.0.1:8080', '10.1.0.2:8080'])
    dns.records.set('api.test', ['10.1.0.3'])
    await until(() => addresses(rt).join() === '10.1.0.3:8080', 'the new answer')
  })

  test('the TTL is honoured, but never below dnsRefreshMs', async (t) => {
    const dns = await startTestDnsServer()
    t.after(() => dns.close())
    dns.records.set('api.test', ['10.1.0.1'])
    dns.ttlSeconds = 3600
    const reg = registry(t, dns.address)
    const rt = reg.acquire(cluster([['api.test', 80]], { resolution: 'DNS', dnsRefreshMs: 20 }))
    await rt.resolving
    const queries = dns.queries
    await new Promise((r) => setTimeout(r, 200))
    assert.equal(dns.queries, queries, 'no refresh before the TTL runs out')
  })

  test('a failing refresh keeps the last good answer', async (t) => {
    const dns = await startTestDnsServer()
    t.after(() => dns.close())
    dns.records.set('api.test', ['10.1.0.1'])
    const reg = registry(t, dns.address)
    const rt = reg.acquire(cluster([['api.test', 80]], { resolution: 'DNS', dnsRefreshMs: 20 }))
    await rt.resolving
    dns.silent = true
    const before = dns.queries
    await until(() => dns.queries >= before + 4, 'refreshes against the silent server')
    assert.deepEqual(addresses(rt), ['10.1.0.1:80'])
    dns.silent = false
    dns.records.delete('api.test')
    const nx = dns.queries
    await until(() => dns.queries >= nx + 4, 'refreshes answered NXDOMAIN')
    assert.deepEqual(addresses(rt), ['10.1.0.1:80'])
  })

  test('DNS_ROUND_ROBIN uses one address of the answer', async (t) => {
    const dns = await startTestDnsServer()
    t.after(() => dns.close())
    dns.records.set('api.test', ['10.1.0.1', '10.1.0.2'])
    const reg = registry(t, dns.address)
    const rt = reg.acquire(cluster([['api.test', 80]], { resolution: 'DNS_ROUND_ROBIN' }))
    await rt.resolving
    assert.deepEqual(addresses(rt), ['10.1.0.1:80'])
  })

  test('a name nobody can resolve leaves the cluster without endpoints', async (t) => {
    const dns = await startTestDnsServer()
    t.after(() => dns.close())
    const reg = registry(t, dns.address)
    const rt = reg.acquire(cluster([['nowhere.invalid', 80]], { resolution: 'DNS' }))
    await rt.resolving
    assert.equal(rt.pick(undefined), undefined)
  })
})
