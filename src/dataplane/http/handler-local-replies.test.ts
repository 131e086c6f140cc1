import { Readable } from 'node:stream'
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type * as ir from '../../ir/index.js'
import {
  client,
  closedPort,
  cluster,
  destination,
  forward,
  ops,
  prefixMatch,
  route,
  snapshot,
  startGateway,
  startUpstream,
  vhost,
} from '../../../test/support/http-harness.js'

const CONNECT_FAILURE =
  'upstream connect error or disconnect/reset before headers. reset reason: connection failure'

describe('local replies', () => {
  test('404 NR with an empty body when no virtual host or no route matches', async (t) => {
    const gw = await startGateway(
      t,
      snapshot({
        virtualHosts: [
          vhost(
            ['shop.example.com'],
            [route('r', { kind: 'direct', status: 200 }, { match: [prefixMatch('/shop')] })],
          ),
        ],
      }),
    )
    const http = client(t)
    const noHost = await http.get(`${gw.url}/shop`, { headers: { host: 'other.example.com' } })
    assert.equal(noHost.statusCode, 404)
    assert.equal(await noHost.body.text(), '')
    assert.equal(noHost.headers.server, 'istio-envoy')
    const noRoute = await http.get(`${gw.url}/cart`, { headers: { host: 'shop.example.com:9999' } })
    assert.equal(noRoute.statusCode, 404)
    await noRoute.body.text()
    const records = await gw.waitForRecords(2)
    assert.deepEqual(
      records.map((r) => [r.status, r.responseFlags, r.responseCodeDetails, r.routeName]),
      [
        [404, 'NR', 'route_not_found', undefined],
        [404, 'NR', 'route_not_found', undefined],
      ],
    )
  })

  test('503 NC when the destination cluster is not in the snapshot', async (t) => {
    const gw = await startGateway(
      t,
      snapshot({
        virtualHosts: [vhost(['*'], [route('r', forward(destination('outbound|80|v9|gone')))])],
      }),
    )
    const res = await client(t).get(`${gw.url}/`)
    assert.equal(res.statusCode, 503)
    assert.equal(await res.body.text(), '')
    const [record] = await gw.waitForRecords(1)
    assert.equal(record?.responseFlags, 'NC')
    assert.equal(record?.responseCodeDetails, 'cluster_not_found')
    assert.equal(record?.upstreamCluster, 'outbound|80|v9|gone')
  })

  test('503 UH "no healthy upstream" when a cluster has no endpoints', async (t) => {
    const empty = cluster('empty.example.com', [])
    const unresolvable = cluster(
      'dns.example.com',
      [{ port: 80, address: 'no-such-host.invalid' }],
      {
        resolution: 'DNS',
      },
    )
    const gw = await startGateway(
      t,
      snapshot({
        virtualHosts: [
          vhost(
            ['*'],
            [
              route('empty', forward(destination(empty)), { match: [prefixMatch('/empty')] }),
              route('dns', forward(destination(unresolvable)), { match: [prefixMatch('/dns')] }),
            ],
          ),
        ],
        clusters: [empty, unresolvable],
      }),
      { registry: { dns: { timeoutMs: 200, tries: 1 } } },
    )
    const http = client(t)
    for (const path of ['/empty', '/dns']) {
      const res = await http.get(`${gw.url}${path}`)
      assert.equal(res.statusCode, 503, path)
      assert.equal(res.headers['content-type'], 'text/plain')
      assert.equal(await res.body.text(), 'no healthy upstream')
    }
    const records = await gw.waitForRecords(2)
    assert.deepEqual(
      records.map((r) => r.responseFlags),
      ['UH', 'UH'],
    )
  })

  test("503 UF with Envoy's body when the endpoint refuses connections", async (t) => {
    const c = cluster('down.example.com', [{ port: await closedPort() }])
    const gw = await startGateway(
      t,
      snapshot({
        virtualHosts: [vhost(['*'], [route('r', forward(destination(c)))])],
        clusters: [c],
      }),
    )
    const res = await client(t).get(`${gw.url}/`)
    assert.equal(res.statusCode, 503)
    assert.equal(await res.body.text(), CONNECT_FAILURE)
    const [record] = await gw.waitForRecords(1)
    assert.equal(record?.responseFlags, 'UF')
    assert.equal(record?.upstreamHost, `127.0.0.1:${c.endpoints[0]?.port}`)
  })

  test('direct response: status, body, and the route response headers', async (t) => {
    const r = route(
      'r',
      { kind: 'direct', status: 418, body: { text: '{"teapot":true}' } },
      {
        headers: {
          request: ops({}),
          response: ops({
            set: [['content-type', 'application/json']],
            add: [['x-served-by', 'gw']],
          }),
        },
      },
    )
    const gw = await startGateway(t, snapshot({ virtualHosts: [vhost(['*'], [r])] }))
    const res = await client(t).get(`${gw.url}/`)
    assert.equal(res.statusCode, 418)
    assert.equal(res.headers['content-type'], 'application/json')
    assert.equal(res.headers['x-served-by'], 'gw')
    assert.equal(await res.body.text(), '{"teapot":true}')
    const [record] = await gw.waitForRecords(1)
    assert.equal(record?.responseCodeDetails, 'direct_response')
    assert.equal(record?.routeName, 'r')
    assert.equal(record?.bytesSent, 15)
  })

  test('direct response bodies given as bytes are sent decoded', async (t) => {
    const bytes = Buffer.from([0, 1, 2, 255])
    const r = route('r', {
      kind: 'direct',
      status: 200,
      body: { base64: bytes.toString('base64') },
    })
    const gw = await startGateway(t, snapshot({ virtualHosts: [vhost(['*'], [r])] }))
    const res = await client(t).get(`${gw.url}/`)
    assert.deepEqual(Buffer.from(await res.body.arrayBuffer()), bytes)
  })
})

describe('redirects', () => {
  const redirect = (a: Partial<ir.RedirectAction>): ir.RedirectAction => ({
    kind: 'redirect',
    status: 301,
    ...a,
  })

  test('route redirects build the Location as Istio does, with the configured status', async (t) => {
    const routes = [
      route('uri', redirect({ uri: '/new/path' }), { match: [prefixMatch('/foo')] }),
      route('prefix', redirect({ prefixRewrite: '/v2', status: 308 }), {
        match: [prefixMatch('/v1')],
      }),
      route('port', redirect({ derivePort: 'FROM_REQUEST_PORT', scheme: 'https' }), {
        match: [prefixMatch('/secure')],
      }),
    ]
    const gw = await startGateway(t, snapshot({ virtualHosts: [vhost(['*'], routes)] }), {
      listener: { port: 8080 },
    })
    const http = client(t)
    const a = await http.get(`${gw.url}/foo?key=value`, { headers: { host: 'b' } })
    assert.equal(a.statusCode, 301)
    assert.equal(a.headers.location, 'http://b/new/path?key=value')
    assert.equal(await a.body.text(), '')
    const b = await http.get(`${gw.url}/v1/users?id=3`, { headers: { host: 'b:8080' } })
    assert.equal(b.statusCode, 308)
    assert.equal(b.headers.location, 'http://b:8080/v2/users?id=3')
    await b.body.text()
    const c = await http.get(`${gw.url}/secure`, { headers: { host: 'b:8080' } })
    assert.equal(c.headers.location, 'https://b:8080/secure')
    await c.body.text()
    const records = await gw.waitForRecords(3)
    assert.deepEqual(
      records.map((r) => r.responseCodeDetails),
      Array(3).fill('direct_response'),
    )
  })

  test('httpsRedirect answers 301 to https before any route, unless a trusted proxy saw https', async (t) => {
    const up = await startUpstream(t, 'a')
    const c = cluster('svc.example.com', [{ port: up.port }])
    const r = route('r', forward(destination(c)), { match: [prefixMatch('/only')] })
    const plain = await startGateway(
      t,
      snapshot({ virtualHosts: [vhost(['*'], [r], true)], clusters: [c] }),
    )
    const http = client(t)
    const res = await http.get(`${plain.url}/anything?x=1`, {
      headers: { host: 'shop.example.com:80' },
    })
    assert.equal(res.statusCode, 301)
    assert.equal(res.headers.location, 'https://shop.example.com/anything?x=1')
    await res.body.text()
    const [record] = await plain.waitForRecords(1)
    assert.equal(record?.responseFlags, '-')
    assert.equal(record?.responseCodeDetails, 'https_redirect')

    const behindLb = await startGateway(
      t,
      snapshot({
        virtualHosts: [vhost(['*'], [r], true)],
        clusters: [c],
        settings: { numTrustedProxies: 1 },
      }),
    )
    const ok = await http.get(`${behindLb.url}/only`, { headers: { 'x-forwarded-proto': 'https' } })
    assert.equal(ok.statusCode, 200)
    await ok.body.text()
  })
})

describe('retries', () => {
  test('a refused connection is retried on the other endpoint with the attempt count raised', async (t) => {
    const up = await startUpstream(t, 'good')
    const dead = await closedPort()
    const c = cluster('svc.example.com', [{ port: dead }, { port: up.port }])
    const r = route('r', forward(destination(c)), {
      retry: {
        attempts: 2,
        retryOn: ['connect-failure'],
        retriableStatusCodes: [],
        backoffBaseMs: 1,
      },
    })
    const gw = await startGateway(t, snapshot({ virtualHosts: [vhost(['*'], [r])], clusters: [c] }))
    const http = client(t)
    // Round robin starts on the dead endpoint for the first request.
    const res = await http.get(`${gw.url}/`)
    assert.equal(res.statusCode, 200)
    await res.body.text()
    assert.equal(up.seen[0]?.headers['x-envoy-attempt-count'], '2')
    const [record] = await gw.waitForRecords(1)
    assert.equal(record?.responseFlags, '-')
    assert.equal(record?.upstreamHost, `127.0.0.1:${up.port}`)
  })

  test('when every try fails to connect the reply is 503 UF,URX', async (t) => {
    const c = cluster('svc.example.com', [
      { port: await closedPort() },
      { port: await closedPort() },
    ])
    const r = route('r', forward(destination(c)), {
      retry: {
        attempts: 2,
        retryOn: ['connect-failure'],
        retriableStatusCodes: [],
        backoffBaseMs: 1,
      },
    })
    const gw = await startGateway(t, snapshot({ virtualHosts: [vhost(['*'], [r])], clusters: [c] }))
    const res = await client(t).get(`${gw.url}/`)
    assert.equal(res.statusCode, 503)
    assert.equal(await res.body.text(), CONNECT_FAILURE)
    const [record] = await gw.waitForRecords(1)
    assert.equal(record?.responseFlags, 'UF,URX')
  })

  test('a retriable status is retried on another endpoint; the last answer is passed on', async (t) => {
    const failing = await startUpstream(t, 'failing', (_req, res) => res.writeHead(503).end('busy'))
    const good = await startUpstream(t, 'good')
    const c = cluster('svc.example.com', [{ port: failing.port }, { port: good.port }])
    const r = route('r', forward(destination(c)), {
      retry: { attempts: 1, retryOn: ['5xx'], retriableStatusCodes: [], backoffBaseMs: 1 },
    })
    const gw = await startGateway(t, snapshot({ virtualHosts: [vhost(['*'], [r])], clusters: [c] }))
    const http = client(t)
    const first = await http.get(`${gw.url}/`)
    assert.equal(first.statusCode, 200)
    await first.body.text()
    // A small POST body is kept, so it is retried too (with its body).
    const small = await http.get(`${gw.url}/`, { method: 'POST', body: 'payload' })
    assert.equal(small.statusCode, 200)
    assert.equal((JSON.parse(await small.body.text()) as { bodyLength: number }).bodyLength, 7)
    // A body of unknown length is streamed upstream and gone: the 503 comes back as it is.
    const post = await http.get(`${gw.url}/`, {
      method: 'POST',
      body: Readable.from([Buffer.from('pay'), Buffer.from('load')]),
    })
    assert.equal(post.statusCode, 503)
    assert.equal(await post.body.text(), 'busy')
    assert.equal(failing.seen.length, 3)
    assert.equal(good.seen.length, 2)
    const records = await gw.waitForRecords(3)
    assert.equal(records[2]?.responseFlags, '-')
  })

  test('a try that exceeds perTryTimeout is retried on another endpoint', async (t) => {
    const hanging = await startUpstream(t, 'hanging', () => undefined)
    const good = await startUpstream(t, 'good')
    const c = cluster('svc.example.com', [{ port: hanging.port }, { port: good.port }])
    const r = route('r', forward(destination(c)), {
      retry: {
        attempts: 1,
        retryOn: ['gateway-error'],
        retriableStatusCodes: [],
        backoffBaseMs: 1,
        perTryTimeoutMs: 100,
      },
    })
    const gw = await startGateway(t, snapshot({ virtualHosts: [vhost(['*'], [r])], clusters: [c] }))
    const res = await client(t).get(`${gw.url}/`)
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['x-upstream'], 'good')
    await res.body.text()
    assert.equal(good.seen[0]?.headers['x-envoy-attempt-count'], '2')
  })

  test('a route timeout answers 504 UT "upstream request timeout"', async (t) => {
    const slow = await startUpstream(t, 'slow', (_req, res) => {
      setTimeout(() => res.end('late'), 2000).unref()
    })
    const c = cluster('svc.example.com', [{ port: slow.port }])
    const r = route('r', forward(destination(c)), { timeoutMs: 100 })
    const gw = await startGateway(t, snapshot({ virtualHosts: [vhost(['*'], [r])], clusters: [c] }))
    const res = await client(t).get(`${gw.url}/`)
    assert.equal(res.statusCode, 504)
    assert.equal(await res.body.text(), 'upstream request timeout')
    const [record] = await gw.waitForRecords(1)
    assert.equal(record?.responseFlags, 'UT')
  })
})
