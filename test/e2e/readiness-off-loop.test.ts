// Readiness is answered by its own thread (hardening.md §11, overload row): it keeps answering,
// honestly, while the gateway's event loop is busy. The loop is kept busy for real, with no hook
// in the gateway: a reload of a config with a thousand VirtualServices is loaded and compiled
// synchronously on the loop. While that runs, a request sent to the data plane waits, and the
// readiness port still answers — 503 overloaded, since the loop's heartbeat has gone stale.
// Ready, draining and the plain-HTTP answers (HEAD, 404, 405) are the thread's too.
import { describe, test } from 'node:test'
import type { TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent } from 'undici'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  proxyRouteDocs,
  request,
  startGateway,
  startUpstream,
} from './harness/index.js'
import type { GatewayProcess, HttpResponse, Upstream } from './harness/index.js'

const DEADLINE_MS = 60_000
const BUSY_VIRTUAL_SERVICES = 1000

interface Setup {
  gw: GatewayProcess
  up: Upstream
  gatewayPort: number
  readinessPort: number
  upstreamPort: number
}

function configDocs(s: Omit<Setup, 'gw' | 'up'>, virtualServices = 0): string {
  const busy: string[] = []
  for (let i = 0; i < virtualServices; i++) {
    busy.push(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: busy-${i}}
spec:
  hosts: ["h${i}.busy.test"]
  gateways: [bench-gateway]
  http:
    - match: [{uri: {prefix: /a${i}/}}, {headers: {x-k: {exact: v${i}}}}]
      directResponse: {status: 200, body: {string: busy-${i}}}
    - directResponse: {status: 404}`)
  }
  return joinDocs(
    gatewayConfigDoc({
      readinessPort: s.readinessPort,
      accessLog: false,
      drainTimeout: '20s',
      extraSpec: ['  overload:', '    maxEventLoopDelay: 200ms'],
    }),
    proxyRouteDocs({ gatewayPort: s.gatewayPort, upstreamPort: s.upstreamPort, name: 'bench' }),
    ...busy,
  )
}

async function setUp(t: TestContext): Promise<Setup> {
  const [gatewayPort, readinessPort] = await freePorts(2)
  const up = await startUpstream({ name: 'slow' })
  t.after(() => up.close())
  const ports = { gatewayPort: gatewayPort!, readinessPort: readinessPort!, upstreamPort: up.port }
  const gw = await startGateway({ yaml: configDocs(ports) })
  t.after(() => gw.cleanup())
  return { gw, up, ...ports }
}

/** One probe on a fresh connection each time (a probe per connection, as kubelets send). */
async function probe(port: number, method = 'GET', path = '/healthz/ready'): Promise<HttpResponse> {
  const agent = new Agent({ pipelining: 0 })
  try {
    return await request(`http://127.0.0.1:${port}${path}`, {
      method,
      timeoutMs: 15_000,
      dispatcher: agent,
    })
  } finally {
    await agent.destroy()
  }
}

/** Probes readiness until `done` holds for an answer; bounded by DEADLINE_MS. */
async function probeUntil(
  port: number,
  done: (r: HttpResponse) => boolean,
): Promise<HttpResponse | undefined> {
  const until = performance.now() + DEADLINE_MS
  for (let i = 0; i < 5000 && performance.now() < until; i++) {
    const r = await probe(port)
    if (done(r)) return r
    await sleep(5)
  }
  return undefined
}

describe('readiness off the event loop (real gateway process)', () => {
  test('the readiness thread answers ready, HEAD, 404 and 405 like the in-loop server', async (t) => {
    const s = await setUp(t)
    const ready = await probe(s.readinessPort)
    assert.equal(ready.status, 200)
    assert.equal(ready.text, 'ready')
    assert.equal(ready.headers['cache-control'], 'no-store')
    const head = await probe(s.readinessPort, 'HEAD')
    assert.equal(head.status, 200)
    assert.equal(head.text, '')
    assert.equal((await probe(s.readinessPort, 'GET', '/other')).status, 404)
    const post = await probe(s.readinessPort, 'POST')
    assert.equal(post.status, 405)
    assert.equal(post.headers['allow'], 'GET, HEAD')
  })

  test('while the loop compiles a large config, readiness answers 503 overloaded; then 200 again', async (t) => {
    const s = await setUp(t)
    assert.equal((await probe(s.readinessPort)).status, 200)
    const mark = s.gw.mark()
    await s.gw.writeConfig(configDocs(s, BUSY_VIRTUAL_SERVICES))
    s.gw.reload()

    const stale = await probeUntil(s.readinessPort, (r) => r.status === 503)
    assert.ok(stale !== undefined, 'readiness turned 503 while the loop was busy')
    assert.equal(stale.text, 'overloaded')

    // The loop is still busy: a data-plane request waits, and readiness answers meanwhile.
    let isAnswered = false
    const dataPlane = request(`http://127.0.0.1:${s.gatewayPort}/during`, {
      timeoutMs: DEADLINE_MS,
    }).finally(() => (isAnswered = true))
    const during: HttpResponse[] = []
    const until = performance.now() + DEADLINE_MS
    while (!isAnswered && during.length < 2000 && performance.now() < until) {
      during.push(await probe(s.readinessPort))
    }
    // Answered once the loop is free: served, or shed by the guard if the loop lagged on.
    const served = await dataPlane
    assert.ok([200, 503].includes(served.status), `the data-plane request got ${served.status}`)
    assert.ok(
      during.some((r) => r.status === 503 && r.text === 'overloaded'),
      `readiness answered while a data-plane request waited (${during.length} answers)`,
    )

    await s.gw.waitForLine(/config applied/, DEADLINE_MS, { since: mark })
    const ready = await probeUntil(s.readinessPort, (r) => r.status === 200)
    assert.equal(ready?.text, 'ready', 'ready again once the loop turns')
    // Served by the large config. The guard may shed a request or two more if the loop lags
    // again right after (the old snapshot's garbage): ask until it is served, within the deadline.
    let busy: HttpResponse | undefined
    const servedBy = performance.now() + DEADLINE_MS
    for (let i = 0; i < 200 && performance.now() < servedBy; i++) {
      busy = await request(`http://127.0.0.1:${s.gatewayPort}/a7/`, {
        headers: { host: 'h7.busy.test' },
      })
      if (!(busy.status === 503 && busy.text === 'envoy overloaded')) break
      await sleep(50)
    }
    assert.equal(busy?.text, 'busy-7', 'the large config serves')
  })

  test('draining: 503 draining while an in-flight request finishes', async (t) => {
    const s = await setUp(t)
    const inFlight = request(`http://127.0.0.1:${s.gatewayPort}/delay/3`, { timeoutMs: 30_000 })
    // The request is at the upstream (waiting out its delay) before the signal.
    const until = performance.now() + DEADLINE_MS
    while (s.up.requests.length === 0 && performance.now() < until) await sleep(10)
    assert.equal(s.up.requests.length, 1)
    const mark = s.gw.mark()
    const exited = s.gw.stop('SIGTERM', 40_000)
    await s.gw.waitForLine(/listeners draining/, DEADLINE_MS, { since: mark })
    const draining = await probeUntil(s.readinessPort, (r) => r.status === 503)
    assert.equal(draining?.text, 'draining')
    assert.equal((await inFlight).status, 200)
    assert.equal(await exited, 0)
  })
})
