// The task pages' bare Host values (`reviews`, `ratings`, `details`, `httpbin`, `c`), served as a
// sidecar serves them: one outbound listener per service port (outbound.ports), each taking the
// port of a Host that names none from the port connected to. Free loopback ports stand for 9080,
// 8000 and 80 (the ServiceEntries declare the same numbers); the YAML is the samples' unchanged:
// request routing for end-user jason, and the v1beta1 75/25 split for host `c` within binomial
// bounds.
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

/** A STATIC ServiceEntry for `<name>.default.svc.cluster.local`, endpoints labelled by version. */
function serviceEntry(name: string, port: number, versions: Record<string, Upstream>): string {
  const endpoints = Object.entries(versions)
    .map(
      ([version, u]) =>
        `  - {address: 127.0.0.1, ports: {http: ${u.port}}, labels: {version: ${version}}}`,
    )
    .join('\n')
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}}
spec:
  hosts: [${name}.default.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{number: ${port}, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
${endpoints}
`
}

describe('task pages with bare Host names, one outbound listener per service port', () => {
  const ups: Record<string, Upstream> = {}
  let gw: GatewayProcess
  /** Stand-ins for 9080 (bookinfo), 8000 (httpbin) and 80 (c). */
  let bookinfo: number
  let httpbin: number
  let web: number

  before(async () => {
    const names = ['reviews-v1', 'reviews-v2', 'ratings-v1', 'details-v1', 'httpbin-v1']
    for (const name of [...names, 'c-v1', 'c-v2']) ups[name] = await startUpstream({ name })
    const [a, b, c, readiness] = (await freePorts(4)) as [number, number, number, number]
    ;[bookinfo, httpbin, web] = [a, b, c]
    gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({
          readinessPort: readiness,
          accessLog: false,
          extraSpec: [
            `  outbound: {address: 127.0.0.1, ports: [${bookinfo}, ${httpbin}, ${web}]}`,
            '  outboundTrafficPolicy: {mode: REGISTRY_ONLY}',
          ],
        }),
        serviceEntry('reviews', bookinfo, { v1: ups['reviews-v1']!, v2: ups['reviews-v2']! }),
        serviceEntry('ratings', bookinfo, { v1: ups['ratings-v1']! }),
        serviceEntry('details', bookinfo, { v1: ups['details-v1']! }),
        serviceEntry('httpbin', httpbin, { v1: ups['httpbin-v1']! }),
        serviceEntry('c', web, { v1: ups['c-v1']!, v2: ups['c-v2']! }),
        await sample('bookinfo-destination-rule-all.yaml'),
        await sample('bookinfo-virtual-service-reviews-test-v2.yaml'),
        await sample('apiversion-v1beta1-destinationrule-subsets.yaml'),
        await sample('apiversion-v1beta1-virtualservice-weighted.yaml'),
      ),
    })
  })

  after(async () => {
    await gw?.cleanup()
    await Promise.all(Object.values(ups).map((u) => u.close()))
  })

  const call = (port: number, host: string, path: string, headers: Record<string, string> = {}) =>
    request(`http://127.0.0.1:${port}${path}`, { headers: { host, ...headers } })

  test('Host: reviews on the 9080 listener: end-user jason reaches v2, everyone else v1', async () => {
    for (let i = 0; i < 5; i++) {
      const jason = await call(bookinfo, 'reviews', '/reviews/0', { 'end-user': 'jason' })
      assert.equal(jason.headers['x-upstream-name'], 'reviews-v2', jason.text)
      const other = await call(bookinfo, 'reviews', '/reviews/0')
      assert.equal(other.headers['x-upstream-name'], 'reviews-v1', other.text)
    }
    for (const name of ['ratings', 'details']) {
      const res = await call(bookinfo, name, `/${name}/0`)
      assert.equal(res.status, 200, `${name}: ${res.text}`)
      assert.equal(res.headers['x-upstream-name'], `${name}-v1`)
    }
  })

  test('Host: httpbin on the 8000 listener; bookinfo names are not on that port', async () => {
    const res = await call(httpbin, 'httpbin', '/headers')
    assert.equal(res.status, 200, res.text)
    assert.equal(res.headers['x-upstream-name'], 'httpbin-v1')
    const wrong = await call(httpbin, 'ratings', '/ratings/0')
    assert.equal(wrong.status, 502, wrong.text)
    assert.equal(wrong.headers['x-portcullis-egress-reason'], 'port_not_registered')
  })

  test('Host: c on the 80 listener: the 75/25 split within binomial bounds', async () => {
    const n = 200
    const counts = new Map<string, number>()
    for (let i = 0; i < n; i++) {
      const res = await call(web, 'c', '/')
      assert.equal(res.status, 200, res.text)
      const name = String(res.headers['x-upstream-name'])
      counts.set(name, (counts.get(name) ?? 0) + 1)
    }
    const v1 = counts.get('c-v1') ?? 0
    assert.equal(v1 + (counts.get('c-v2') ?? 0), n, JSON.stringify([...counts]))
    // Mean 150, sigma 6.1: ±4 sigma fails once in ~16000 runs.
    assert.ok(v1 >= 126 && v1 <= 174, `v1 got ${v1} of ${n}`)
  })
})
