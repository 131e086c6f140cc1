import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
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

async function countUpstreams(
  http: ReturnType<typeof client>,
  url: string,
  n: number,
  headers: Record<string, string> = {},
): Promise<Map<string, number>> {
  const counts = new Map<string, number>()
  for (let i = 0; i < n; i++) {
    const res = await http.get(url, { headers })
    await res.body.text()
    const name = String(res.headers['x-upstream'])
    counts.set(name, (counts.get(name) ?? 0) + 1)
  }
  return counts
}

describe('load balancing', () => {
  test('weighted destinations split traffic in proportion (80/20 over 1,000 requests)', async (t) => {
    const a = await startUpstream(t, 'v1')
    const b = await startUpstream(t, 'v2')
    const ca = cluster('svc.example.com', [{ port: a.port }], { subset: 'v1' })
    const cb = cluster('svc.example.com', [{ port: b.port }], { subset: 'v2' })
    const r = route(
      'r',
      forward(
        destination(ca, { weight: 80, subset: 'v1' }),
        destination(cb, { weight: 20, subset: 'v2' }),
      ),
    )
    const gw = await startGateway(
      t,
      snapshot({ virtualHosts: [vhost(['*'], [r])], clusters: [ca, cb] }),
    )
    const counts = await countUpstreams(client(t), `${gw.url}/`, 1000)
    // Binomial(1000, 0.8): the standard deviation is about 12.6; allow five of them.
    assert.ok(Math.abs((counts.get('v1') ?? 0) - 800) <= 63, JSON.stringify([...counts]))
    assert.equal((counts.get('v1') ?? 0) + (counts.get('v2') ?? 0), 1000)
    const records = await gw.waitForRecords(1000)
    const clusters = new Set(records.map((rec) => rec.upstreamCluster))
    assert.deepEqual([...clusters].sort(), [ca.id, cb.id].sort())
  })

  test('subset clusters: a header match sends jason to v2, everyone else to v1', async (t) => {
    const a = await startUpstream(t, 'v1')
    const b = await startUpstream(t, 'v2')
    const v1 = cluster('reviews.example.com', [{ port: a.port }], { subset: 'v1' })
    const v2 = cluster('reviews.example.com', [{ port: b.port }], { subset: 'v2' })
    const routes = [
      route('jason', forward(destination(v2, { subset: 'v2' })), {
        match: [
          {
            ignoreUriCase: false,
            headers: [
              { name: 'end-user', match: { kind: 'exact', value: 'jason' }, invert: false },
            ],
            queryParams: [],
          },
        ],
      }),
      route('default', forward(destination(v1, { subset: 'v1' }))),
    ]
    const gw = await startGateway(
      t,
      snapshot({ virtualHosts: [vhost(['reviews.example.com'], routes)], clusters: [v1, v2] }),
    )
    const http = client(t)
    const host = { host: 'reviews.example.com' }
    assert.deepEqual(
      [...(await countUpstreams(http, `${gw.url}/`, 5, { ...host, 'end-user': 'jason' }))],
      [['v2', 5]],
    )
    assert.deepEqual([...(await countUpstreams(http, `${gw.url}/`, 5, host))], [['v1', 5]])
    const records = await gw.waitForRecords(10)
    assert.equal(records[0]?.upstreamCluster, 'outbound|80|v2|reviews.example.com')
    assert.equal(records[0]?.destinationService, 'reviews.example.com')
    assert.equal(records[0]?.routeName, 'jason')
    assert.equal(records[9]?.upstreamCluster, 'outbound|80|v1|reviews.example.com')
  })

  test('round robin over endpoints honours endpoint weights', async (t) => {
    const a = await startUpstream(t, 'a')
    const b = await startUpstream(t, 'b')
    const c = cluster('svc.example.com', [
      { port: a.port, weight: 3 },
      { port: b.port, weight: 1 },
    ])
    const gw = await startGateway(
      t,
      snapshot({
        virtualHosts: [vhost(['*'], [route('r', forward(destination(c)))])],
        clusters: [c],
      }),
    )
    const counts = await countUpstreams(client(t), `${gw.url}/`, 400)
    assert.equal(counts.get('a'), 300)
    assert.equal(counts.get('b'), 100)
    const records = await gw.waitForRecords(400)
    assert.deepEqual(
      new Set(records.map((r) => r.upstreamHost)),
      new Set([`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]),
    )
  })

  test('a DNS cluster resolves names, /etc/hosts ones included', async (t) => {
    const up = await startUpstream(t, 'local')
    const c = cluster('local.example.com', [{ port: up.port, address: 'localhost' }], {
      resolution: 'DNS',
    })
    const gw = await startGateway(
      t,
      snapshot({
        virtualHosts: [vhost(['*'], [route('r', forward(destination(c)))])],
        clusters: [c],
      }),
      { registry: { dns: { timeoutMs: 500, tries: 1 } } },
    )
    const res = await client(t).get(`${gw.url}/`)
    assert.equal(res.statusCode, 200)
    await res.body.text()
    const [record] = await gw.waitForRecords(1)
    assert.equal(record?.upstreamHost, `127.0.0.1:${up.port}`)
  })
})
