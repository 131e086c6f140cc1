// The rate-limit step on the real request path (node:http server, undici client), compiled from
// gateway.yaml, against the memory store and a real redis-server.
import { after, before, describe, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { compile } from '../../src/compile/index.js'
import { loadConfigText } from '../../src/config/index.js'
import { client, startGateway, type Gateway } from '../support/http-harness.js'
import type { RateLimitOutcome } from '../../src/observe/index.js'
import { createLimitStore, createMemoryLimitStore, type LimitStore } from '../../src/state/index.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'

const ROUTES = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: default}
spec:
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ['*']}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: default}
spec:
  hosts: ['*']
  gateways: [web]
  http:
  - name: api
    match: [{uri: {prefix: /api}}]
    directResponse: {status: 200, body: {string: api}}
  - name: open
    directResponse: {status: 200, body: {string: open}}
---
`

function policy(spec: string, name = 'api'): string {
  return `apiVersion: portcullis.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: ${name}, namespace: default}
spec:
${spec}`
}

interface Counted {
  readonly outcomes: string[]
}

async function gatewayWith(
  t: TestContext,
  policies: string,
  store: LimitStore,
): Promise<Gateway & Counted> {
  const loaded = loadConfigText({ 'gateway.yaml': ROUTES + policies })
  assert.deepEqual(loaded.diagnostics, [])
  const { snapshot, diagnostics } = compile(loaded.resources)
  assert.deepEqual(diagnostics, [])
  const outcomes: string[] = []
  const listener = snapshot.listeners[0]!
  const gw = await startGateway(t, snapshot, {
    listener: { id: listener.id, port: listener.port },
    limits: {
      limiter: store.rate,
      observer: {
        onRateLimit: (p: string, r: number, o: RateLimitOutcome) => outcomes.push(`${p}#${r} ${o}`),
        onStoreHealth: () => {},
        onDecisionWithoutStore: () => {},
      },
    },
  })
  return Object.assign(gw, { outcomes })
}

describe('rate limits on the request path (memory store)', () => {
  test('over the limit: 429 RL with Envoy and RateLimit headers; allowed responses carry them too', async (t) => {
    const gw = await gatewayWith(
      t,
      policy(`  targetRefs: [{kind: Gateway, name: web}]
  rules:
  - match: [{uri: {prefix: /api}}]
    by: [clientIp]
    limit: {requests: 3, unit: minute}
`),
      createMemoryLimitStore(),
    )
    const http = client(t)
    const statuses: number[] = []
    const remaining: string[] = []
    for (let i = 0; i < 5; i++) {
      const res = await http.get(`${gw.url}/api/x`)
      statuses.push(res.statusCode)
      remaining.push(String(res.headers['ratelimit-remaining']))
      assert.equal(res.headers['ratelimit-limit'], '3')
      if (res.statusCode === 429) {
        assert.equal(res.headers['x-envoy-ratelimited'], 'true')
        // One unit comes back every 20 s (3 per minute).
        assert.equal(res.headers['retry-after'], '20')
        assert.equal(res.headers['ratelimit-reset'], '60')
        assert.equal(await res.body.text(), '')
      } else {
        assert.equal(await res.body.text(), 'api')
      }
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429])
    assert.deepEqual(remaining, ['2', '1', '0', '0', '0'])
    // Unmatched requests are neither counted nor given headers.
    const open = await http.get(`${gw.url}/other`)
    assert.equal(open.statusCode, 200)
    assert.equal(open.headers['ratelimit-limit'], undefined)
    await open.body.text()
    const records = await gw.waitForRecords(6)
    assert.deepEqual(
      records.map((r) => `${r.status} ${r.responseFlags} ${r.responseCodeDetails}`).slice(2, 5),
      ['200 - direct_response', '429 RL request_rate_limited', '429 RL request_rate_limited'],
    )
  })

  test('keys: header values are counted apart; sectionName limits one route only', async (t) => {
    const gw = await gatewayWith(
      t,
      policy(`  targetRefs: [{kind: VirtualService, name: app, sectionName: open}]
  rules:
  - by: ['header:x-tenant']
    limit: {requests: 1, unit: hour}
`),
      createMemoryLimitStore(),
    )
    const http = client(t)
    const status = async (path: string, tenant: string) => {
      const res = await http.get(`${gw.url}${path}`, { headers: { 'x-tenant': tenant } })
      await res.body.text()
      return res.statusCode
    }
    assert.deepEqual(
      [await status('/a', 'x'), await status('/a', 'y'), await status('/a', 'x')],
      [200, 200, 429],
    )
    assert.deepEqual([await status('/api', 'x'), await status('/api', 'x')], [200, 200])
  })

  test('shadow: counts and reports over-limit requests, never rejects', async (t) => {
    const gw = await gatewayWith(
      t,
      policy(`  targetRefs: [{kind: Gateway, name: web}]
  rules: [{limit: {requests: 2, unit: minute}}]
  shadow: true
`),
      createMemoryLimitStore(),
    )
    const http = client(t)
    for (let i = 0; i < 5; i++) {
      const res = await http.get(`${gw.url}/api`)
      assert.equal(res.statusCode, 200)
      assert.equal(res.headers['x-envoy-ratelimited'], undefined)
      await res.body.text()
    }
    assert.deepEqual(gw.outcomes, [
      'default/api#0 ok',
      'default/api#0 ok',
      'default/api#0 shadow_over_limit',
      'default/api#0 shadow_over_limit',
      'default/api#0 shadow_over_limit',
    ])
  })
})

describe('rate limits on the request path (Redis store)', () => {
  let redis: RedisServer
  before(async () => {
    redis = await startRedisServer()
  })
  after(() => redis.stop())

  test('concurrent requests through Redis: exactly the limit admitted', async (t) => {
    const store = await createLimitStore({ redis: { url: redis.url, commandTimeout: 1000 } })
    t.after(() => store.close())
    const gw = await gatewayWith(
      t,
      policy(`  targetRefs: [{kind: Gateway, name: web}]
  rules: [{limit: {requests: 10, unit: day}}]
`),
      store,
    )
    const http = client(t)
    const statuses = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const res = await http.get(`${gw.url}/api`)
        await res.body.text()
        return res.statusCode
      }),
    )
    assert.equal(statuses.filter((s) => s === 200).length, 10)
    assert.equal(statuses.filter((s) => s === 429).length, 30)
  })

  test('Redis down: fail-closed answers 500 RLSE, fail-open keeps serving', async (t) => {
    const down = await startRedisServer()
    await down.kill()
    t.after(() => down.stop())
    const store = await createLimitStore({ redis: { url: down.url, connectTimeout: 100 } })
    t.after(() => store.close())
    const gw = await gatewayWith(
      t,
      policy(
        `  targetRefs: [{kind: VirtualService, name: app, sectionName: api}]
  rules: [{limit: {requests: 100, unit: minute}}]
  failureMode: closed
`,
        'closed',
      ) +
        '---\n' +
        policy(
          `  targetRefs: [{kind: VirtualService, name: app, sectionName: open}]
  rules: [{limit: {requests: 100, unit: minute}}]
`,
          'open',
        ),
      store,
    )
    const http = client(t)
    const closed = await http.get(`${gw.url}/api`)
    assert.equal(closed.statusCode, 500)
    await closed.body.text()
    const open = await http.get(`${gw.url}/x`)
    assert.equal(open.statusCode, 200)
    await open.body.text()
    const records = await gw.waitForRecords(2)
    assert.deepEqual(
      records.map((r) => `${r.status} ${r.responseFlags} ${r.responseCodeDetails}`),
      ['500 RLSE rate_limiter_error', '200 - direct_response'],
    )
  })
})
