// Istio's traffic-management task pages, run against the outbound listener with the Host values
// the pages use (`reviews:9080`, `ratings:9080`, `details:9080`, `httpbin:8000`) and their YAML
// unchanged from ../shared/istio-samples. Real loopback upstreams stand for the service versions
// (STATIC ServiceEntries whose endpoints carry the `version` labels the subsets select).
// Request routing (end-user: jason), traffic shifting (binomial bounds), fault injection (delay
// and abort), request timeouts, retries, mirroring and circuit breaking.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  REPO_ROOT,
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  request,
  startGateway,
  startUpstream,
  type GatewayProcess,
  type Upstream,
} from './harness/index.js'

const SAMPLES = join(REPO_ROOT, '../shared/istio-samples')
const sample = (name: string) => readFile(join(SAMPLES, name), 'utf8')

/** One document of a multi-document sample (0-based). */
async function sampleDoc(name: string, index: number): Promise<string> {
  const docs = (await sample(name)).split(/^---$/m)
  return docs[index]!
}

type Versions = Record<string, Upstream>

/** A STATIC ServiceEntry for `host` whose endpoints are the upstreams, labelled by version. */
function serviceEntry(host: string, port: number, versions: Versions): string {
  const endpoints = Object.entries(versions)
    .map(
      ([version, u]) =>
        `  - {address: 127.0.0.1, ports: {http: ${u.port}}, labels: {version: ${version}}}`,
    )
    .join('\n')
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${host.split('.').slice(0, 2).join('-')}}
spec:
  hosts: [${host}]
  location: MESH_INTERNAL
  ports: [{number: ${port}, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
${endpoints}
`
}

describe('Istio task pages on the outbound listener', () => {
  const ups: Record<string, Upstream> = {}
  const gateways: GatewayProcess[] = []
  let entries: string

  before(async () => {
    for (const name of [
      'reviews-v1',
      'reviews-v2',
      'reviews-v3',
      'ratings-v1',
      'details-v1',
      'httpbin-v1',
      'httpbin-v2',
    ]) {
      ups[name] = await startUpstream({ name })
    }
    entries = joinDocs(
      serviceEntry('reviews.default.svc.cluster.local', 9080, {
        v1: ups['reviews-v1']!,
        v2: ups['reviews-v2']!,
        v3: ups['reviews-v3']!,
      }),
      serviceEntry('ratings.default.svc.cluster.local', 9080, { v1: ups['ratings-v1']! }),
      serviceEntry('details.default.svc.cluster.local', 9080, { v1: ups['details-v1']! }),
      serviceEntry('httpbin.default.svc.cluster.local', 8000, {
        v1: ups['httpbin-v1']!,
        v2: ups['httpbin-v2']!,
      }),
    )
  })

  after(async () => {
    await Promise.all(gateways.map((g) => g.cleanup()))
    await Promise.all(Object.values(ups).map((u) => u.close()))
  })

  /** A gateway with the outbound listener, the service entries and these documents. */
  async function start(...docs: string[]): Promise<number> {
    const [proxy, readiness] = await freePorts(2)
    const gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({
          readinessPort: readiness!,
          accessLog: false,
          extraSpec: [
            `  outbound: {port: ${proxy}, address: 127.0.0.1}`,
            '  outboundTrafficPolicy: {mode: REGISTRY_ONLY}',
          ],
        }),
        entries,
        ...docs,
      ),
    })
    gateways.push(gw)
    return proxy!
  }

  const call = (proxy: number, host: string, path: string, headers: Record<string, string> = {}) =>
    request(`http://127.0.0.1:${proxy}${path}`, { headers: { host, ...headers } })

  test('request routing: end-user jason reaches reviews v2, everyone else v1', async () => {
    const proxy = await start(
      await sample('bookinfo-destination-rule-all.yaml'),
      await sample('bookinfo-virtual-service-reviews-test-v2.yaml'),
    )
    for (let i = 0; i < 5; i++) {
      const jason = await call(proxy, 'reviews:9080', '/reviews/0', { 'end-user': 'jason' })
      assert.equal(jason.headers['x-upstream-name'], 'reviews-v2', jason.text)
      const other = await call(proxy, 'reviews:9080', '/reviews/0', { 'end-user': 'alice' })
      assert.equal(other.headers['x-upstream-name'], 'reviews-v1', other.text)
    }
    // A host with no VirtualService is served by its ServiceEntry alone.
    const details = await call(proxy, 'details:9080', '/details/0')
    assert.equal(details.status, 200)
    assert.equal(details.headers['x-upstream-name'], 'details-v1')
  })

  test('traffic shifting: 50/50 between reviews v1 and v3 within binomial bounds', async () => {
    const proxy = await start(
      await sample('bookinfo-destination-rule-all.yaml'),
      await sample('bookinfo-virtual-service-reviews-50-v3.yaml'),
    )
    const counts = new Map<string, number>()
    const n = 100
    for (let i = 0; i < n; i++) {
      const res = await call(proxy, 'reviews:9080', '/reviews/0')
      assert.equal(res.status, 200)
      const name = String(res.headers['x-upstream-name'])
      counts.set(name, (counts.get(name) ?? 0) + 1)
    }
    // Mean 50, sigma 5: ±4 sigma fails once in ~16000 runs.
    const v1 = counts.get('reviews-v1') ?? 0
    assert.equal(v1 + (counts.get('reviews-v3') ?? 0), n, JSON.stringify([...counts]))
    assert.ok(v1 >= 30 && v1 <= 70, `v1 got ${v1} of ${n}`)
  })

  test('fault injection: abort for jason, and the delay of the timeouts page', async () => {
    const abortProxy = await start(
      await sample('bookinfo-destination-rule-all.yaml'),
      await sample('bookinfo-virtual-service-ratings-test-abort.yaml'),
    )
    const aborted = await call(abortProxy, 'ratings:9080', '/ratings/0', { 'end-user': 'jason' })
    assert.equal(aborted.status, 500)
    assert.equal(aborted.text, 'fault filter abort')
    const fine = await call(abortProxy, 'ratings:9080', '/ratings/0')
    assert.equal(fine.status, 200)
    assert.equal(fine.headers['x-upstream-name'], 'ratings-v1')
  })

  test('request timeouts: reviews 0.5s answers 504 UT; ratings is delayed 2s', async () => {
    const proxy = await start(
      await sample('bookinfo-destination-rule-all.yaml'),
      await sample('timeouts-reviews-half-second-ratings-delay-2s.yaml'),
    )
    const slow = await call(proxy, 'reviews:9080', '/delay/3')
    assert.equal(slow.status, 504)
    assert.equal(slow.text, 'upstream request timeout')
    const started = Date.now()
    const delayed = await call(proxy, 'ratings:9080', '/ratings/0')
    assert.equal(delayed.status, 200)
    assert.ok(Date.now() - started >= 1900, `answered after ${Date.now() - started} ms`)
  })

  test('retries: gateway-error retried 3 times; mirroring copies httpbin v1 traffic to v2', async () => {
    const ratingsProd = await startUpstream({ name: 'ratings-prod' })
    try {
      const proxy = await start(
        serviceEntry('ratings.prod.svc.cluster.local', 9080, { v1: ratingsProd }),
        `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings-prod, namespace: prod}
spec:
  host: ratings.prod.svc.cluster.local
  subsets: [{name: v1, labels: {version: v1}}]
`,
        await sample('resilience-retries-retry-on.yaml'),
        await sampleDoc('mirroring-httpbin-all-to-v1.yaml', 1),
        await sample('mirroring-httpbin-mirror-to-v2.yaml'),
      )
      const failing = await call(proxy, 'ratings.prod:9080', '/status/503')
      assert.equal(failing.status, 503)
      assert.equal(ratingsProd.requests.length, 4, 'one request and three retries')

      const v2 = ups['httpbin-v2']!
      const before = v2.requests.length
      const res = await call(proxy, 'httpbin:8000', '/headers')
      assert.equal(res.status, 200)
      assert.equal(res.headers['x-upstream-name'], 'httpbin-v1')
      const deadline = Date.now() + 10_000
      while (v2.requests.length === before && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20))
      }
      assert.equal(v2.requests.at(-1)?.path, '/headers', 'v2 received the mirrored request')
    } finally {
      await ratingsProd.close()
    }
  })

  test('circuit breaking: httpbin with one connection and one pending request overflows', async () => {
    const proxy = await start(await sample('circuit-breaking-httpbin.yaml'))
    // A fortio-like client: a bounded number of concurrent connections, each a short loop.
    const statuses: number[] = []
    let overloaded = 0
    const { Agent } = await import('undici')
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        const agent = new Agent({ connections: 1 })
        try {
          for (let i = 0; i < 3; i++) {
            const res = await request(`http://127.0.0.1:${proxy}/delay/0.5`, {
              headers: { host: 'httpbin:8000' },
              dispatcher: agent,
            })
            statuses.push(res.status)
            if (res.headers['x-envoy-overloaded'] === 'true') overloaded++
          }
        } finally {
          await agent.close()
        }
      }),
    )
    assert.equal(statuses.length, 12)
    assert.ok(statuses.includes(200), `statuses ${statuses.join(',')}`)
    assert.ok(overloaded > 0, `statuses ${statuses.join(',')}`)
    assert.ok(
      statuses.every((s) => s === 200 || s === 503),
      `statuses ${statuses.join(',')}`,
    )
  })
})
