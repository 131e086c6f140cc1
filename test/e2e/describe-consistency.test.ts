// `describe` agrees with the data plane: a real gateway with recording upstreams serves a
// seeded sample of requests (hosts, paths that normalization rewrites, headers), and for each
// one the described outcome is what happened: the local reply's status, or the upstream (by its
// endpoint) that received the request, with the normalized path describe predicted. The admin
// API's GET /describe answers the same against the live snapshot.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { compile } from '../../src/compile/index.js'
import { describeRequest, type DescribeInput } from '../../src/match/index.js'
import { buildSnapshot } from '../../src/runtime/index.js'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  parseResponses,
  rawRequest,
  request,
  startGateway,
  startUpstream,
} from './harness/index.js'
import type { GatewayProcess, Upstream } from './harness/index.js'
import type * as ir from '../../src/ir/index.js'
import { seededRandom } from '../support/seeded-random.js'

function routes(gatewayPort: number, v1: Upstream, v2: Upstream, other: Upstream): string {
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  servers:
    - port: {number: ${gatewayPort}, name: http, protocol: HTTP}
      hosts: ['*']
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
    - {address: 127.0.0.1, ports: {http: ${v1.port}}, labels: {version: v1}}
    - {address: 127.0.0.1, ports: {http: ${v2.port}}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: other}
spec:
  hosts: [other.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: ${other.port}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}}
    - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews, '*.reviews.example.com']
  gateways: [edge]
  http:
    - name: deny
      match: [{uri: {prefix: /admin}}]
      directResponse: {status: 403}
    - name: jason
      match: [{headers: {end-user: {exact: jason}}}, {queryParams: {v: {exact: '2'}}}]
      route: [{destination: {host: reviews, subset: v2, port: {number: 9080}}}]
    - name: empty
      match: [{uri: {prefix: /v3}}]
      route: [{destination: {host: reviews, subset: v3, port: {number: 9080}}}]
    - name: moved
      match: [{uri: {exact: /old}, method: {exact: GET}}]
      redirect: {uri: /new}
    - name: default
      match: [{uri: {prefix: /reviews}}, {uri: {regex: '/r/[0-9]+'}}]
      route: [{destination: {host: reviews, subset: v1, port: {number: 9080}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: other}
spec:
  hosts: [other.example.com]
  gateways: [edge]
  http:
    - route: [{destination: {host: other.example.com}}]
`
}

const HOSTS = [
  'reviews.default.svc.cluster.local',
  'REVIEWS.default.svc.cluster.local:9080',
  'a.reviews.example.com',
  'other.example.com',
  'other.example.com:80',
  'reviews:9080',
  'nobody.example.org',
]
const PATHS = [
  '/reviews/1',
  '/r/42',
  '/r/x',
  '/admin',
  '/public/../admin/x',
  '/%61dmin',
  '/./reviews/2',
  '/reviews/%2e%2e/admin',
  '/v3/a',
  '/old',
  '/reviews?v=2',
  '/other',
]
const HEADERS: readonly Record<string, string>[] = [{}, { 'end-user': 'jason' }]
const METHODS = ['GET', 'POST']
const SAMPLE = 120

/** A seeded sample of the cross product, so a failure reproduces. */
function sample(seed: number): DescribeInput[] {
  const random = seededRandom(seed)
  // The generator's 32-bit output (exact: it was divided by 2^32), modulo n.
  const next = (n: number): number => (random() * 4294967296) % n
  const pick = <T>(xs: readonly T[]): T => xs[next(xs.length)]!
  return Array.from({ length: SAMPLE }, () => ({
    method: pick(METHODS),
    authority: pick(HOSTS),
    target: pick(PATHS),
    port: 0,
    headers: pick(HEADERS),
  }))
}

describe('describe agrees with the data plane', () => {
  let gw: GatewayProcess
  let snapshot: ir.Snapshot
  let gatewayPort: number
  let adminPort: number
  const ups: Upstream[] = []

  before(async () => {
    const [g, readiness, admin] = await freePorts(3)
    gatewayPort = g!
    adminPort = admin!
    for (const name of ['v1', 'v2', 'other']) ups.push(await startUpstream({ name }))
    gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({ readinessPort: readiness!, adminPort }),
        routes(gatewayPort, ups[0]!, ups[1]!, ups[2]!),
      ),
    })
    const built = buildSnapshot([gw.configPath], compile)
    assert.ok(built.ok)
    snapshot = built.snapshot
  })
  after(async () => {
    await gw?.cleanup()
    await Promise.all(ups.map((u) => u.close()))
  })

  test(`${SAMPLE} sampled requests: same status, same upstream, same path`, async () => {
    const byEndpoint = new Map(ups.map((u) => [`127.0.0.1:${u.port}`, u]))
    const seen = new Set<string>()
    for (const base of sample(14)) {
      const input = { ...base, port: gatewayPort }
      const d = describeRequest(snapshot, input)
      for (const u of ups) u.reset()
      const head = Object.entries(input.headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('')
      const body = input.method === 'POST' ? 'content-length: 0\r\n' : ''
      const raw = await rawRequest(
        gatewayPort,
        `${input.method} ${input.target} HTTP/1.1\r\nhost: ${input.authority}\r\n${head}${body}connection: close\r\n\r\n`,
        { timeoutMs: 10_000 },
      )
      const res = parseResponses(raw.bytes).responses[0]
      const what = `${input.method} ${input.authority} ${input.target} ${JSON.stringify(input.headers)}: ${d.summary}`
      assert.ok(res !== undefined, `no response: ${what}`)
      const received = ups.filter((u) => u.requests.length > 0)
      if (d.outcome.status === 'forward') {
        assert.equal(res.status, 200, what)
        const expected = d.destinations.flatMap((x) => x.endpoints ?? [])
        assert.equal(received.length, 1, what)
        assert.ok(
          expected.some((e) => byEndpoint.get(e) === received[0]),
          `${what}: served by ${received[0]?.name}`,
        )
        assert.equal(received[0]!.requests[0]!.url, `${d.path}${queryOf(input.target)}`, what)
      } else {
        assert.equal(res.status, d.outcome.status, what)
        assert.equal(received.length, 0, what)
      }
      seen.add(String(d.outcome.status))
    }
    // The sample covers forwarding and every local reply the config can give.
    for (const s of ['forward', '403', '404', '301', '503'])
      assert.ok(seen.has(s), `no ${s} in the sample`)
  })

  test('GET /describe on the admin port answers from the live snapshot', async () => {
    const q = new URLSearchParams({
      url: `http://reviews.default.svc.cluster.local:${gatewayPort}/public/../admin/x`,
      format: 'json',
    })
    const res = await request(`http://127.0.0.1:${adminPort}/describe?${q.toString()}`)
    assert.equal(res.status, 200)
    const body = res.json<{ path: string; route: string; outcome: { status: number } }>()
    assert.equal(body.path, '/admin/x')
    assert.equal(body.route, 'default/reviews/http[0]')
    assert.equal(body.outcome.status, 403)

    const text = await request(
      `http://127.0.0.1:${adminPort}/describe?port=${gatewayPort}&path=/r/7&header=${encodeURIComponent('Host: a.reviews.example.com')}`,
    )
    assert.equal(text.status, 200)
    assert.match(text.text, /^virtual host \+ \*\.reviews\.example\.com/m)
    assert.match(text.text, /^result {7}forwarded by route default\/reviews\/http\[4\]/m)

    const bad = await request(`http://127.0.0.1:${adminPort}/describe?path=/x`)
    assert.equal(bad.status, 400)
  })
})

function queryOf(target: string): string {
  const q = target.indexOf('?')
  return q < 0 ? '' : target.slice(q)
}
