// The overload guard of the real gateway process. The process is starved for real: SIGSTOP and
// SIGCONT in turn leave it running a fifth of the time, so its event loop lags by hundreds of
// milliseconds every window, as on a saturated or CPU-starved host. New requests then get 503 OM
// with Retry-After (access-logged and counted), readiness says 503 overloaded, and both come
// back by themselves once the process runs freely; `maxEventLoopDelay: 0s` turns it off.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  request,
  startGateway,
  type GatewayProcess,
  type HttpResponse,
} from './harness/index.js'

const STOPPED_MS = 400
const RUNNING_MS = 100
const DEADLINE_MS = 30_000

describe('overload guard (real gateway process)', () => {
  let gw: GatewayProcess
  let port = 0
  let readinessPort = 0
  let metricsPort = 0
  let starving = false
  let starver: Promise<void> | undefined

  const config = (extraSpec: string[]): string =>
    joinDocs(
      gatewayConfigDoc({ readinessPort, metricsPort, extraSpec }),
      `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  servers:
    - port: { number: ${port}, name: http, protocol: HTTP }
      hosts: ["*"]`,
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: answer
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
    - directResponse: { status: 200, body: { string: admitted } }`,
    )

  before(async () => {
    const ports = await freePorts(3)
    port = ports[0]!
    readinessPort = ports[1]!
    metricsPort = ports[2]!
    // The recommended bound (200ms) is what this test starves the process past.
    gw = await startGateway({
      yaml: config(['  overload:', '    maxEventLoopDelay: 200ms']),
    })
  })

  after(async () => {
    await stopStarving()
    await gw?.cleanup()
  })

  /** Stops and continues the gateway in turn (bounded by DEADLINE_MS) until stopStarving(). */
  function startStarving(): void {
    starving = true
    const pid = gw.proc.pid!
    const until = performance.now() + DEADLINE_MS
    starver = (async () => {
      try {
        while (starving && performance.now() < until) {
          process.kill(pid, 'SIGSTOP')
          await sleep(STOPPED_MS)
          process.kill(pid, 'SIGCONT')
          await sleep(RUNNING_MS)
        }
      } finally {
        process.kill(pid, 'SIGCONT')
      }
    })()
  }

  async function stopStarving(): Promise<void> {
    starving = false
    await starver
    starver = undefined
  }

  const get = (id: string): Promise<HttpResponse> =>
    request(`http://127.0.0.1:${port}/`, {
      headers: { host: 'any.test', 'x-request-id': id },
      timeoutMs: 15_000,
    })
  const ready = (): Promise<HttpResponse> =>
    request(`http://127.0.0.1:${readinessPort}/healthz/ready`, { timeoutMs: 15_000 })

  /** Polls `probe` until `done` holds for its answer, within DEADLINE_MS. */
  async function pollUntil(
    probe: (i: number) => Promise<HttpResponse>,
    done: (r: HttpResponse) => boolean,
  ): Promise<HttpResponse | undefined> {
    const until = performance.now() + DEADLINE_MS
    for (let i = 0; i < 500 && performance.now() < until; i++) {
      const r = await probe(i)
      if (done(r)) return r
      await sleep(50)
    }
    return undefined
  }

  test('a starved process sheds new requests with 503 OM and is not ready; it recovers by itself', async () => {
    assert.equal((await get('before')).status, 200)
    assert.equal((await ready()).status, 200)
    const mark = gw.mark()
    startStarving()
    let shedId = ''
    const shed = await pollUntil(
      (i) => get((shedId = `starved-${i}`)),
      (r) => r.status === 503,
    )
    assert.ok(shed !== undefined, 'a request was shed while the process was starved')
    assert.equal(shed.text, 'envoy overloaded')
    assert.equal(shed.headers['retry-after'], '1')
    const notReady = await pollUntil(ready, (r) => r.status === 503)
    assert.ok(notReady !== undefined, 'readiness turned 503 while overloaded')
    assert.equal(notReady.text, 'overloaded')
    await stopStarving()

    const admitted = await pollUntil(
      () => get('recovered'),
      (r) => r.status === 200,
    )
    assert.equal(admitted?.text, 'admitted', 'requests are admitted again')
    assert.ok((await pollUntil(ready, (r) => r.status === 200)) !== undefined, 'ready again')

    assert.match(
      await gw.waitForLine(new RegExp(`"${shedId}"`), 10_000, { stream: 'stdout' }),
      /" 503 OM overload /,
    )
    await gw.waitForLine(/overloaded: shedding new requests with 503 OM/, 10_000, {
      since: mark,
      stream: 'stderr',
    })
    await gw.waitForLine(/overload over: admitting new requests/, 10_000, {
      since: mark,
      stream: 'stderr',
    })
    const metrics = await request(`http://127.0.0.1:${metricsPort}/stats/prometheus`)
    assert.match(
      metrics.text,
      /istio_requests_total\{[^}]*response_code="503",response_flags="OM"[^}]*\} [1-9]/,
    )
  })

  test('maxEventLoopDelay 0s turns the guard off (applied on reload)', async () => {
    const mark = gw.mark()
    await gw.writeConfig(config(['  overload:', '    maxEventLoopDelay: 0s']))
    gw.reload()
    await gw.waitForLine(/config applied/, 10_000, { since: mark })
    startStarving()
    try {
      // As many requests as took the guard well past its bound above; none is shed.
      for (let i = 0; i < 20; i++) {
        const r = await get(`off-${i}`)
        assert.equal(r.status, 200, `request ${i}`)
      }
      assert.equal((await ready()).status, 200)
    } finally {
      await stopStarving()
    }
  })
})
