import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type * as ir from '../../ir/index.js'
import { prepareSnapshot, releaseSnapshot } from './prepare-snapshot.js'
import {
  client,
  cluster,
  destination,
  forward,
  route,
  snapshot,
  startGateway,
  startUpstream,
  vhost,
} from '../../../test/support/http-harness.js'

function withPolicy(c: ir.Cluster, policy: ir.ClusterPolicy): ir.Cluster {
  return { ...c, policy }
}

const OUTLIER: ir.OutlierDetectionPolicy = {
  consecutive5xxErrors: 3,
  consecutiveGatewayErrors: 0,
  consecutiveLocalOriginFailures: 5,
  splitExternalLocalOriginErrors: false,
  intervalMs: 10_000,
  baseEjectionTimeMs: 60_000,
  maxEjectionPercent: 100,
  minHealthPercent: 0,
}

describe('upstream policies', () => {
  test('maxConnections 1 + http1MaxPendingRequests 1: overflow is 503 UO with x-envoy-overloaded', async (t) => {
    const held: (() => void)[] = []
    const up = await startUpstream(t, 'slow', (_req, res) => {
      held.push(() => res.writeHead(200).end('ok'))
    })
    const c = withPolicy(cluster('svc.example.com', [{ port: up.port }]), {
      connectionPool: { maxConnections: 1, maxPendingRequests: 1 },
    })
    const gw = await startGateway(
      t,
      snapshot({
        virtualHosts: [vhost(['*'], [route('r', forward(destination(c)))])],
        clusters: [c],
      }),
    )
    const http = client(t)
    const pending = Array.from({ length: 20 }, () => http.get(`${gw.url}/`))
    // Let the admitted ones through once the overflow has been answered.
    for (let i = 0; i < 200 && gw.records.length < 18; i++)
      await new Promise((r) => setTimeout(r, 10))
    const release = setInterval(() => held.splice(0).forEach((f) => f()), 20)
    t.after(() => clearInterval(release))
    const results = await Promise.all(
      pending.map(async (p) => {
        const res = await p
        return { status: res.statusCode, headers: res.headers, body: await res.body.text() }
      }),
    )
    const overflow = results.filter((r) => r.status === 503)
    assert.equal(overflow.length, 18)
    assert.equal(results.filter((r) => r.status === 200).length, 2)
    for (const r of overflow) {
      assert.equal(r.headers['x-envoy-overloaded'], 'true')
      assert.equal(
        r.body,
        'upstream connect error or disconnect/reset before headers. reset reason: overflow',
      )
    }
    const records = await gw.waitForRecords(20)
    assert.equal(records.filter((r) => r.responseFlags === 'UO').length, 18)
  })

  test('an endpoint returning 5xx is ejected after exactly consecutive5xxErrors; a reload keeps it out', async (t) => {
    const bad = await startUpstream(t, 'bad', (_req, res) => res.writeHead(500).end('no'))
    const good1 = await startUpstream(t, 'good1')
    const good2 = await startUpstream(t, 'good2')
    const c = withPolicy(
      cluster('svc.example.com', [{ port: bad.port }, { port: good1.port }, { port: good2.port }]),
      { outlierDetection: OUTLIER },
    )
    const snap = snapshot({
      virtualHosts: [vhost(['*'], [route('r', forward(destination(c)))])],
      clusters: [c],
    })
    const gw = await startGateway(t, snap)
    const http = client(t)
    const statuses: number[] = []
    for (let i = 0; i < 9; i++) {
      const res = await http.get(`${gw.url}/`)
      statuses.push(res.statusCode)
      await res.body.text()
    }
    assert.equal(bad.seen.length, 3)
    assert.equal(statuses.filter((s) => s === 500).length, 3)
    // A reload with the same cluster keeps the runtime, so the ejection holds.
    const next = prepareSnapshot(
      snapshot({ ...snap, virtualHosts: [], clusters: [c] }),
      gw.registry,
    )
    t.after(() => releaseSnapshot(next, gw.registry))
    assert.equal(next.clusters.get(c.id), gw.prepared.clusters.get(c.id))
    for (let i = 0; i < 12; i++) {
      const res = await http.get(`${gw.url}/`)
      assert.equal(res.statusCode, 200)
      await res.body.text()
    }
    assert.equal(bad.seen.length, 3)
  })

  test('every endpoint ejected: 503 UH no healthy upstream', async (t) => {
    const bad = await startUpstream(t, 'bad', (_req, res) => res.writeHead(503).end('no'))
    const c = withPolicy(cluster('svc.example.com', [{ port: bad.port }]), {
      outlierDetection: { ...OUTLIER, consecutive5xxErrors: 2 },
    })
    const gw = await startGateway(
      t,
      snapshot({
        virtualHosts: [vhost(['*'], [route('r', forward(destination(c)))])],
        clusters: [c],
      }),
    )
    const http = client(t)
    for (let i = 0; i < 2; i++) await (await http.get(`${gw.url}/`)).body.text()
    const res = await http.get(`${gw.url}/`)
    assert.equal(res.statusCode, 503)
    assert.equal(await res.body.text(), 'no healthy upstream')
    const records = await gw.waitForRecords(3)
    assert.equal(records[2]?.responseFlags, 'UH')
    assert.equal(bad.seen.length, 2)
  })

  test('consistent hash: a header sticks to one endpoint; a cookie with a TTL is issued', async (t) => {
    const ups = await Promise.all(['a', 'b', 'c'].map((n) => startUpstream(t, n)))
    const base = cluster(
      'svc.example.com',
      ups.map((u) => ({ port: u.port })),
    )
    const byHeader = withPolicy(base, {
      loadBalancer: {
        kind: 'CONSISTENT_HASH',
        key: { kind: 'header', name: 'x-user' },
        ringSize: 1024,
      },
    })
    const gw = await startGateway(
      t,
      snapshot({
        virtualHosts: [vhost(['*'], [route('r', forward(destination(byHeader)))])],
        clusters: [byHeader],
      }),
    )
    const http = client(t)
    for (const user of ['alice', 'bob', 'carol', 'dave']) {
      const seen = new Set<string>()
      for (let i = 0; i < 6; i++) {
        const res = await http.get(`${gw.url}/`, { headers: { 'x-user': user } })
        seen.add(String(res.headers['x-upstream']))
        await res.body.text()
      }
      assert.equal(seen.size, 1, `${user} went to ${[...seen].join(',')}`)
    }

    const byCookie = withPolicy(base, {
      loadBalancer: {
        kind: 'CONSISTENT_HASH',
        key: { kind: 'cookie', name: 'sticky', path: '/', ttlMs: 3_600_000 },
        ringSize: 1024,
      },
    })
    const gw2 = await startGateway(
      t,
      snapshot({
        virtualHosts: [vhost(['*'], [route('r', forward(destination(byCookie)))])],
        clusters: [byCookie],
      }),
    )
    const first = await http.get(`${gw2.url}/`)
    const setCookie = String(first.headers['set-cookie'])
    const target = String(first.headers['x-upstream'])
    await first.body.text()
    assert.match(setCookie, /^sticky="[0-9a-f]{16}"; Max-Age=3600; Path=\/; HttpOnly$/)
    const cookie = setCookie.split(';')[0]!
    for (let i = 0; i < 6; i++) {
      const res = await http.get(`${gw2.url}/`, { headers: { cookie } })
      assert.equal(res.headers['x-upstream'], target)
      assert.equal(res.headers['set-cookie'], undefined)
      await res.body.text()
    }
  })
})

describe('route policies', () => {
  test('fault abort: configured status, body `fault filter abort`, FI, nothing sent upstream', async (t) => {
    const up = await startUpstream(t, 'a')
    const c = cluster('svc.example.com', [{ port: up.port }])
    const r = route('r', forward(destination(c)), {
      fault: { abort: { httpStatus: 418, percent: 100 } },
      retry: {
        attempts: 3,
        retryOn: ['5xx', 'retriable-4xx'],
        retriableStatusCodes: [418],
        backoffBaseMs: 1,
      },
    })
    const gw = await startGateway(t, snapshot({ virtualHosts: [vhost(['*'], [r])], clusters: [c] }))
    const res = await client(t).get(`${gw.url}/`)
    assert.equal(res.statusCode, 418)
    assert.equal(await res.body.text(), 'fault filter abort')
    const records = await gw.waitForRecords(1)
    assert.equal(records[0]?.responseFlags, 'FI')
    assert.equal(up.seen.length, 0)
  })

  test('fault percentages are honoured within statistical bounds; a delay is flagged DI', async (t) => {
    const up = await startUpstream(t, 'a')
    const c = cluster('svc.example.com', [{ port: up.port }])
    const r = route('r', forward(destination(c)), {
      fault: {
        abort: { httpStatus: 503, percent: 25.5 },
        delay: { fixedDelayMs: 1, percent: 100 },
      },
    })
    const gw = await startGateway(t, snapshot({ virtualHosts: [vhost(['*'], [r])], clusters: [c] }))
    const http = client(t)
    let aborted = 0
    const n = 400
    for (let i = 0; i < n; i++) {
      const res = await http.get(`${gw.url}/`)
      if (res.statusCode === 503) aborted++
      await res.body.text()
    }
    // Mean 102, standard deviation about 8.7: ±5 sd.
    assert.ok(aborted > 58 && aborted < 146, `aborted ${aborted} of ${n}`)
    const records = await gw.waitForRecords(n)
    assert.ok(records.every((rec) => rec.responseFlags.startsWith('DI')))
    assert.equal(records.filter((rec) => rec.responseFlags === 'DI,FI').length, aborted)
  })

  test('CORS: an allowed preflight is answered with exact headers; others are forwarded', async (t) => {
    const up = await startUpstream(t, 'a')
    const c = cluster('svc.example.com', [{ port: up.port }])
    const r = route('r', forward(destination(c)), {
      cors: {
        allowOrigins: [{ kind: 'exact', value: 'cors.com' }],
        allowMethods: ['POST', 'GET'],
        allowHeaders: ['X-Foo-Bar', 'X-Foo-Baz'],
        exposeHeaders: ['X-Exposed'],
        maxAgeSeconds: 86400,
        unmatchedPreflights: 'FORWARD',
      },
    })
    const gw = await startGateway(t, snapshot({ virtualHosts: [vhost(['*'], [r])], clusters: [c] }))
    const http = client(t)
    const pre = await http.get(`${gw.url}/`, {
      method: 'OPTIONS',
      headers: { origin: 'cors.com', 'access-control-request-method': 'DELETE' },
    })
    await pre.body.text()
    assert.equal(pre.statusCode, 200)
    assert.equal(pre.headers['access-control-allow-origin'], 'cors.com')
    assert.equal(pre.headers['access-control-allow-methods'], 'POST,GET')
    assert.equal(pre.headers['access-control-allow-headers'], 'X-Foo-Bar,X-Foo-Baz')
    assert.equal(pre.headers['access-control-max-age'], '86400')
    assert.equal(up.seen.length, 0)
    const get = await http.get(`${gw.url}/`, { headers: { origin: 'cors.com' } })
    await get.body.text()
    assert.equal(get.headers['access-control-allow-origin'], 'cors.com')
    assert.equal(get.headers['access-control-expose-headers'], 'X-Exposed')
    const plain = await http.get(`${gw.url}/`)
    await plain.body.text()
    assert.equal(plain.headers['access-control-allow-origin'], undefined)
    const other = await http.get(`${gw.url}/`, {
      method: 'OPTIONS',
      headers: { origin: 'evil.com', 'access-control-request-method': 'GET' },
    })
    await other.body.text()
    assert.equal(other.headers['access-control-allow-origin'], undefined)
    assert.equal(up.seen.length, 3)
  })

  test('mirrors: copies arrive with the -shadow Host when asked; a dead mirror changes nothing', async (t) => {
    const main = await startUpstream(t, 'main')
    const shadow = await startUpstream(t, 'shadow')
    const c = cluster('svc.example.com', [{ port: main.port }])
    const m = cluster('mirror.example.com', [{ port: shadow.port }])
    const dead = cluster('dead.example.com', [{ port: 1, address: '127.0.0.1' }])
    const r = route('r', forward(destination(c)), {
      mirrors: [
        { cluster: m.id, host: m.host, port: 80, percent: 100, hostSuffix: '-shadow' },
        { cluster: dead.id, host: dead.host, port: 80, percent: 100 },
      ],
    })
    const gw = await startGateway(
      t,
      snapshot({ virtualHosts: [vhost(['*'], [r])], clusters: [c, m, dead] }),
    )
    const res = await client(t).get(`${gw.url}/path`, { headers: { host: 'app.test:8080' } })
    assert.equal(res.statusCode, 200)
    await res.body.text()
    for (let i = 0; i < 200 && shadow.seen.length === 0; i++)
      await new Promise((r) => setTimeout(r, 10))
    assert.equal(shadow.seen[0]?.headers.host, 'app.test-shadow:8080')
    assert.equal(shadow.seen[0]?.url, '/path')
    assert.equal(main.seen[0]?.headers.host, 'app.test:8080')
  })

  test('x-envoy-upstream-rq-timeout-ms is honoured from an internal client only', async (t) => {
    const up = await startUpstream(t, 'hang', () => undefined)
    const c = cluster('svc.example.com', [{ port: up.port }])
    const r = route('r', forward(destination(c)), { timeoutMs: 3000 })
    const snap = snapshot({ virtualHosts: [vhost(['*'], [r])], clusters: [c] })
    const gw = await startGateway(t, snap)
    const http = client(t)
    const started = performance.now()
    const res = await http.get(`${gw.url}/`, {
      headers: { 'x-envoy-upstream-rq-timeout-ms': '200' },
    })
    assert.equal(res.statusCode, 504)
    assert.equal(await res.body.text(), 'upstream request timeout')
    const took = performance.now() - started
    assert.ok(took >= 190 && took < 2500, `took ${took} ms`)
    // Behind one trusted proxy, the client named by X-Forwarded-For is external: ignored.
    const trusted = await startGateway(t, {
      ...snap,
      settings: { ...snap.settings, numTrustedProxies: 1 },
    })
    const t2 = performance.now()
    const res2 = await http.get(`${trusted.url}/`, {
      headers: { 'x-envoy-upstream-rq-timeout-ms': '200', 'x-forwarded-for': '203.0.113.7' },
    })
    await res2.body.text()
    assert.equal(res2.statusCode, 504)
    assert.ok(performance.now() - t2 >= 2900)
  })
})
