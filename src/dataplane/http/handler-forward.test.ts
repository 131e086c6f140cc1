import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  client,
  cluster,
  destination,
  forward,
  nodeGet,
  ops,
  prefixMatch,
  route,
  snapshot,
  startGateway,
  startUpstream,
  vhost,
} from '../../../test/support/http-harness.js'

describe('forwarding', () => {
  test('the upstream sees the client request plus the gateway forwarding headers', async (t) => {
    const up = await startUpstream(t, 'a')
    const c = cluster('svc.example.com', [{ port: up.port }])
    const gw = await startGateway(
      t,
      snapshot({
        virtualHosts: [vhost(['*'], [route('r', forward(destination(c)))])],
        clusters: [c],
      }),
    )
    const res = await client(t).get(`${gw.url}/api/items?x=1&y=2`, {
      headers: {
        host: 'Shop.Example.com:8080',
        'x-forwarded-for': '203.0.113.7',
        'x-forwarded-proto': 'https',
        'user-agent': 'test-agent',
      },
    })
    assert.equal(res.statusCode, 200)
    await res.body.text()
    const seen = up.seen[0]!
    assert.equal(seen.url, '/api/items?x=1&y=2')
    // Istio keeps the client's Host, port included.
    assert.equal(seen.headers.host, 'Shop.Example.com:8080')
    assert.equal(seen.headers['x-forwarded-for'], '203.0.113.7,127.0.0.1')
    // No trusted proxies: the client's X-Forwarded-Proto is replaced by the listener's scheme.
    assert.equal(seen.headers['x-forwarded-proto'], 'http')
    assert.match(String(seen.headers['x-request-id']), /^[0-9a-f-]{36}$/)
    assert.equal(seen.headers['x-envoy-attempt-count'], '1')
    assert.equal(seen.headers['user-agent'], 'test-agent')
    // Loopback is internal in Envoy's sense: no external address is claimed.
    assert.equal(seen.headers['x-envoy-external-address'], undefined)
    assert.equal(res.headers.server, 'istio-envoy')
    assert.match(String(res.headers['x-envoy-upstream-service-time']), /^\d+$/)
    assert.equal(res.headers['x-upstream'], 'a')
  })

  test('a client x-request-id is kept; trusted proxies keep the client X-Forwarded-Proto', async (t) => {
    const up = await startUpstream(t, 'a')
    const c = cluster('svc.example.com', [{ port: up.port }])
    const gw = await startGateway(
      t,
      snapshot({
        virtualHosts: [vhost(['*'], [route('r', forward(destination(c)))])],
        clusters: [c],
        settings: { numTrustedProxies: 1 },
      }),
    )
    const res = await client(t).get(`${gw.url}/`, {
      headers: {
        'x-request-id': 'abc-123',
        'x-forwarded-proto': 'https',
        'x-forwarded-for': '198.51.100.4',
      },
    })
    await res.body.text()
    const seen = up.seen[0]!
    assert.equal(seen.headers['x-request-id'], 'abc-123')
    assert.equal(seen.headers['x-forwarded-proto'], 'https')
    assert.equal(seen.headers['x-forwarded-for'], '198.51.100.4,127.0.0.1')
    // The trusted client address is external, so Envoy names it to the upstream.
    assert.equal(seen.headers['x-envoy-external-address'], '198.51.100.4')
    const [record] = await gw.waitForRecords(1)
    assert.equal(record?.requestId, 'abc-123')
  })

  test('hop-by-hop headers, Connection-nominated headers and client x-envoy-* are not forwarded', async (t) => {
    const up = await startUpstream(t, 'a', (_req, res) => {
      res.writeHead(200, {
        'keep-alive': 'timeout=5',
        'x-hop': 'secret',
        connection: 'x-hop',
        'proxy-authenticate': 'Basic',
        'x-kept': 'yes',
      })
      res.end('ok')
    })
    const c = cluster('svc.example.com', [{ port: up.port }])
    const gw = await startGateway(
      t,
      snapshot({
        virtualHosts: [vhost(['*'], [route('r', forward(destination(c)))])],
        clusters: [c],
      }),
    )
    const res = await nodeGet(`${gw.url}/`, {
      connection: 'keep-alive, x-secret, x-request-id, x-forwarded-for',
      'keep-alive': 'timeout=30',
      'x-secret': 'do-not-pass',
      te: 'trailers',
      'proxy-authorization': 'Basic Zm9vOmJhcg==',
      'x-envoy-upstream-rq-timeout-ms': '60000',
      'x-envoy-debug': '1',
      'x-request-id': 'mine',
      'x-forwarded-for': '203.0.113.9',
      'x-normal': 'kept',
    })
    assert.equal(res.body, 'ok')
    const h = up.seen[0]!.headers
    for (const name of [
      'x-secret',
      'te',
      'proxy-authorization',
      'x-envoy-debug',
      'x-envoy-upstream-rq-timeout-ms',
    ]) {
      assert.equal(h[name], undefined, name)
    }
    assert.equal(h['keep-alive'], undefined)
    assert.equal(h['x-normal'], 'kept')
    // Connection cannot remove what the gateway owns.
    assert.equal(h['x-request-id'], 'mine')
    assert.equal(h['x-forwarded-for'], '203.0.113.9,127.0.0.1')
    assert.equal(h['x-envoy-attempt-count'], '1')
    assert.equal(res.headers['x-hop'], undefined)
    assert.equal(res.headers['proxy-authenticate'], undefined)
    assert.equal(res.headers['x-kept'], 'yes')
  })

  test('authority and path rewrites; the query string survives', async (t) => {
    const up = await startUpstream(t, 'a')
    const c = cluster('svc.example.com', [{ port: up.port }])
    const routes = [
      route('prefix', forward(destination(c)), {
        match: [prefixMatch('/old')],
        rewrite: { prefix: '/new' },
        authorityRewrite: 'internal.example.com',
      }),
      route('regex', forward(destination(c, { authorityRewrite: 'dest.example.com' })), {
        match: [prefixMatch('/svc/')],
        rewrite: { regex: { match: '^/svc/([^/]+)/(.*)$', rewrite: '/$2/$1' } },
      }),
    ]
    const gw = await startGateway(
      t,
      snapshot({ virtualHosts: [vhost(['*'], routes)], clusters: [c] }),
    )
    const http = client(t)
    await (await http.get(`${gw.url}/old/a/b?q=1`)).body.text()
    await (await http.get(`${gw.url}/svc/users/list?page=2`)).body.text()
    assert.equal(up.seen[0]?.url, '/new/a/b?q=1')
    assert.equal(up.seen[0]?.headers.host, 'internal.example.com')
    assert.equal(up.seen[1]?.url, '/list/users?page=2')
    assert.equal(up.seen[1]?.headers.host, 'dest.example.com')
  })

  test('request and response header rules: the route wins over the destination', async (t) => {
    const up = await startUpstream(t, 'a', (_req, res) => {
      res.writeHead(200, { 'x-internal': 'leak', 'x-version': 'upstream' })
      res.end()
    })
    const c = cluster('svc.example.com', [{ port: up.port }])
    const dest = destination(c, {
      headers: {
        request: ops({ set: [['x-owner', 'destination']], add: [['x-dest', 'd']] }),
        response: ops({ set: [['x-version', 'destination']] }),
      },
    })
    const r = route('r', forward(dest), {
      headers: {
        request: ops({ set: [['x-owner', 'route']], remove: ['x-drop-me'], add: [['x-tag', 'a']] }),
        response: ops({
          set: [['x-version', 'route']],
          add: [['x-added', '1']],
          remove: ['x-internal'],
        }),
      },
    })
    const gw = await startGateway(t, snapshot({ virtualHosts: [vhost(['*'], [r])], clusters: [c] }))
    const res = await client(t).get(`${gw.url}/`, {
      headers: { 'x-owner': 'client', 'x-drop-me': '1', 'x-tag': 'client' },
    })
    await res.body.text()
    const h = up.seen[0]!.headers
    assert.equal(h['x-owner'], 'route')
    assert.equal(h['x-drop-me'], undefined)
    assert.equal(h['x-tag'], 'client, a')
    assert.equal(h['x-dest'], 'd')
    assert.equal(res.headers['x-version'], 'route')
    assert.equal(res.headers['x-added'], '1')
    assert.equal(res.headers['x-internal'], undefined)
  })

  test('HEAD, 204 and 304 pass through without bodies', async (t) => {
    const up = await startUpstream(t, 'a', (req, res) => {
      if (req.url === '/204') res.writeHead(204).end()
      else if (req.url === '/304') res.writeHead(304, { etag: '"x"' }).end()
      else
        res
          .writeHead(200, { 'content-length': '5' })
          .end(req.method === 'HEAD' ? undefined : 'hello')
    })
    const c = cluster('svc.example.com', [{ port: up.port }])
    const gw = await startGateway(
      t,
      snapshot({
        virtualHosts: [vhost(['*'], [route('r', forward(destination(c)))])],
        clusters: [c],
      }),
    )
    const http = client(t)
    const head = await http.get(`${gw.url}/`, { method: 'HEAD' })
    assert.equal(head.statusCode, 200)
    assert.equal(head.headers['content-length'], '5')
    assert.equal(await head.body.text(), '')
    const noContent = await http.get(`${gw.url}/204`)
    assert.equal(noContent.statusCode, 204)
    assert.equal(await noContent.body.text(), '')
    const notModified = await http.get(`${gw.url}/304`)
    assert.equal(notModified.statusCode, 304)
    assert.equal(notModified.headers.etag, '"x"')
    // The connection is still good for another request afterwards.
    const after = await http.get(`${gw.url}/`)
    assert.equal(await after.body.text(), 'hello')
  })
})
