// outbound.ports: one outbound listener per port, as Istio's sidecar has one per service port. A
// Host that names no port names the port the client connected to, so `Host: reviews` on the
// reviews port reaches reviews and on the httpbin port reaches nothing; a Host port wins over
// the listener's. A reload binds a port added and retires a port removed; a reload that gives a
// port twice, or whose new port is taken, is refused while the old listeners keep serving. Free
// loopback ports stand for 9080 and 8000 (the ServiceEntries declare the same numbers).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { isRefused } from '../support/listener-kit.js'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  request,
  startGateway,
  startUpstream,
  type GatewayProcess,
  type Upstream,
} from './harness/index.js'

const LOG_TIMEOUT_MS = 10_000

function staticEntry(name: string, port: number, upstream: Upstream): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}}
spec:
  hosts: [${name}.default.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{number: ${port}, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: ${upstream.port}}}]
`
}

async function waitUntil(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + LOG_TIMEOUT_MS
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${LOG_TIMEOUT_MS} ms`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('outbound.ports: one outbound listener per service port', () => {
  let reviews: Upstream
  let httpbin: Upstream
  let details: Upstream
  let gw: GatewayProcess
  let readiness: number
  let reviewsPort: number
  let httpbinPort: number
  let detailsPort: number

  const config = (ports: readonly number[]): string =>
    joinDocs(
      gatewayConfigDoc({
        readinessPort: readiness,
        accessLog: false,
        extraSpec: [
          `  outbound: {address: 127.0.0.1, ports: [${ports.join(', ')}]}`,
          '  outboundTrafficPolicy: {mode: REGISTRY_ONLY}',
        ],
      }),
      staticEntry('reviews', reviewsPort, reviews),
      staticEntry('httpbin', httpbinPort, httpbin),
      staticEntry('details', detailsPort, details),
    )

  const get = (port: number, host: string) =>
    request(`http://127.0.0.1:${port}/get`, { headers: { host } })

  before(async () => {
    ;[reviews, httpbin, details] = await Promise.all([
      startUpstream({ name: 'reviews' }),
      startUpstream({ name: 'httpbin' }),
      startUpstream({ name: 'details' }),
    ])
    const ports = await freePorts(4)
    ;[reviewsPort, httpbinPort, detailsPort, readiness] = ports as [number, number, number, number]
    gw = await startGateway({ yaml: config([reviewsPort, httpbinPort]) })
  })

  after(async () => {
    await gw?.cleanup()
    await Promise.all([reviews?.close(), httpbin?.close(), details?.close()])
  })

  test('a Host without a port takes the port of the listener connected to', async () => {
    const r = await get(reviewsPort, 'reviews')
    assert.equal(r.status, 200, r.text)
    assert.equal(r.headers['x-upstream-name'], 'reviews')
    const h = await get(httpbinPort, 'httpbin')
    assert.equal(h.status, 200, h.text)
    assert.equal(h.headers['x-upstream-name'], 'httpbin')
    // reviews has no port there: the httpbin listener does not reach it by bare name.
    const wrong = await get(httpbinPort, 'reviews')
    assert.equal(wrong.status, 502, wrong.text)
    assert.equal(wrong.headers['x-portcullis-egress-reason'], 'port_not_registered')
  })

  test('a port in Host wins over the listener port', async () => {
    const r = await get(httpbinPort, `reviews:${reviewsPort}`)
    assert.equal(r.status, 200, r.text)
    assert.equal(r.headers['x-upstream-name'], 'reviews')
    const fqdn = await get(reviewsPort, `httpbin.default.svc.cluster.local:${httpbinPort}`)
    assert.equal(fqdn.status, 200, fqdn.text)
    assert.equal(fqdn.headers['x-upstream-name'], 'httpbin')
  })

  test('a reload binds an added port, retires a removed one, and refuses a port given twice', async () => {
    assert.equal(await isRefused(detailsPort), true, 'details has no listener yet')
    let mark = gw.mark()
    await gw.writeConfig(config([reviewsPort, detailsPort]))
    await gw.waitForLine(/config applied/, LOG_TIMEOUT_MS, { since: mark })
    const d = await get(detailsPort, 'details')
    assert.equal(d.status, 200, d.text)
    assert.equal(d.headers['x-upstream-name'], 'details')
    await waitUntil('the httpbin listener is retired', () => isRefused(httpbinPort))
    const r = await get(reviewsPort, 'reviews')
    assert.equal(r.status, 200, 'the kept listener serves across the reload')

    mark = gw.mark()
    await gw.writeConfig(config([reviewsPort, httpbinPort, reviewsPort]))
    const diag = await gw.waitForLine(/error PC1705/, LOG_TIMEOUT_MS, { since: mark })
    assert.match(diag, /gateway\.yaml:\d+:\d+ error PC1705 .*outbound port \d+ is already given/)
    await gw.waitForLine(/config rejected; still serving/, LOG_TIMEOUT_MS, { since: mark })
    assert.equal(await isRefused(httpbinPort), true, 'nothing of the refused config is bound')
    assert.equal((await get(detailsPort, 'details')).status, 200)
    assert.equal((await get(reviewsPort, 'reviews')).status, 200)
  })

  test('a reload whose new port is taken binds none of its new ports', async (t) => {
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(httpbinPort, '127.0.0.1', resolve))
    t.after(() => new Promise((resolve) => taken.close(resolve)))
    const [spare] = (await freePorts(1)) as [number]
    const mark = gw.mark()
    await gw.writeConfig(config([reviewsPort, spare, httpbinPort]))
    const line = await gw.waitForLine(/config rejected; still serving/, LOG_TIMEOUT_MS, {
      since: mark,
    })
    assert.match(line, /EADDRINUSE|cannot bind/)
    assert.equal(await isRefused(spare), true, 'the port bound before the failure is closed again')
    assert.equal((await get(detailsPort, 'details')).status, 200)
  })
})
