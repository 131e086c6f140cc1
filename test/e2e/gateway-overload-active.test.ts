// The overload guard's cap on requests in progress (`overload.maxActiveRequests`), on the real
// gateway process: with the cap's worth of requests held by a slow upstream, the next request is
// refused at once with 503 OM and never reaches the upstream; a finished or abandoned request
// gives its place back; a cap of 0 turns it off on reload.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  proxyRouteDocs,
  request,
  startGateway,
  type GatewayProcess,
  type HttpResponse,
} from './harness/index.js'

const DEADLINE_MS = 30_000

/** An upstream that answers nothing until told to: the requests it holds are in progress. */
interface HeldUpstream {
  readonly port: number
  /** Requests that arrived, by x-request-id. */
  readonly arrived: string[]
  /** Answers every request held now with 200 `released`. */
  releaseAll(): void
  close(): Promise<void>
}

async function startHeldUpstream(): Promise<HeldUpstream> {
  const arrived: string[] = []
  let held: ServerResponse[] = []
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    arrived.push(String(req.headers['x-request-id']))
    held.push(res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    arrived,
    releaseAll() {
      const now = held
      held = []
      for (const res of now) if (!res.destroyed) res.end('released')
    },
    close() {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = performance.now() + DEADLINE_MS
  for (let i = 0; i < 1000 && performance.now() < deadline; i++) {
    if (await check()) return
    await sleep(20)
  }
  assert.fail(`timed out waiting until ${what}`)
}

describe('overload.maxActiveRequests (real gateway process)', () => {
  let gw: GatewayProcess
  let upstream: HeldUpstream
  let port = 0
  let readinessPort = 0
  let metricsPort = 0

  const config = (cap: number): string =>
    joinDocs(
      gatewayConfigDoc({
        readinessPort,
        metricsPort,
        extraSpec: ['  overload:', `    maxActiveRequests: ${cap}`],
      }),
      proxyRouteDocs({ gatewayPort: port, upstreamPort: upstream.port, name: 'held' }),
    )

  before(async () => {
    upstream = await startHeldUpstream()
    ;[port, readinessPort, metricsPort] = (await freePorts(3)) as [number, number, number]
    gw = await startGateway({ yaml: config(2) })
  })

  after(async () => {
    upstream?.releaseAll()
    await gw?.cleanup()
    await upstream?.close()
  })

  const get = (id: string): Promise<HttpResponse> =>
    request(`http://127.0.0.1:${port}/`, {
      headers: { host: 'any.test', 'x-request-id': id },
      timeoutMs: 20_000,
    })

  test('at the cap the next request is 503 OM at once and never reaches the upstream', async () => {
    const first = get('held-1')
    const second = get('held-2')
    await until('both requests reached the upstream', () => upstream.arrived.length === 2)

    const shed = await get('over-cap')
    assert.equal(shed.status, 503)
    assert.equal(shed.text, 'envoy overloaded')
    assert.equal(shed.headers['retry-after'], '1')
    assert.deepEqual(upstream.arrived, ['held-1', 'held-2'], 'the shed request never left')
    // The cap is not the event-loop guard: readiness stays 200.
    const ready = await request(`http://127.0.0.1:${readinessPort}/healthz/ready`)
    assert.equal(ready.status, 200)

    upstream.releaseAll()
    assert.equal((await first).status, 200)
    assert.equal((await second).status, 200)
    // Both places were given back: two new requests are in progress at once again.
    const third = get('after-1')
    const fourth = get('after-2')
    await until('two more requests reached the upstream', () => upstream.arrived.length === 4)
    upstream.releaseAll()
    assert.equal((await third).text, 'released')
    assert.equal((await fourth).text, 'released')

    assert.match(
      await gw.waitForLine(/"over-cap"/, 10_000, { stream: 'stdout' }),
      /" 503 OM overload /,
    )
    const metrics = await request(`http://127.0.0.1:${metricsPort}/stats/prometheus`)
    assert.match(
      metrics.text,
      /istio_requests_total\{[^}]*response_code="503",response_flags="OM"[^}]*\} 1\b/,
    )
  })

  test('a request the client abandons gives its place back', async () => {
    upstream.arrived.length = 0
    const gone = [new AbortController(), new AbortController()]
    const abandoned = gone.map((c, i) =>
      fetch(`http://127.0.0.1:${port}/`, {
        headers: { host: 'any.test', 'x-request-id': `abandoned-${i}` },
        signal: c.signal,
      }).catch(() => undefined),
    )
    await until('both requests reached the upstream', () => upstream.arrived.length === 2)
    assert.equal((await get('while-held')).status, 503)
    for (const c of gone) c.abort()
    await Promise.all(abandoned)
    // The gateway sees the clients go and releases their places (no upstream answer needed):
    // soon a new request is admitted, i.e. it reaches the upstream instead of a 503.
    let admitted: Promise<HttpResponse> | undefined
    for (let i = 0; admitted === undefined && i < 50; i++) {
      const id = `retry-${i}`
      const r = get(id)
      let answered: HttpResponse | undefined
      void r.then((x) => (answered = x))
      await until(
        `${id} is answered or reaches the upstream`,
        () => answered !== undefined || upstream.arrived.includes(id),
      )
      if (upstream.arrived.includes(id)) admitted = r
      else assert.equal(answered?.status, 503, `${id} was shed while the places were taken`)
    }
    assert.ok(admitted !== undefined, 'a request was admitted once the clients had gone')
    upstream.releaseAll()
    assert.equal((await admitted).status, 200)
  })

  test('maxActiveRequests 0 turns the cap off (applied on reload)', async () => {
    const mark = gw.mark()
    await gw.writeConfig(config(0))
    gw.reload()
    await gw.waitForLine(/config applied/, 10_000, { since: mark })
    upstream.arrived.length = 0
    const inFlight = [0, 1, 2, 3].map((i) => get(`uncapped-${i}`))
    await until('all four requests reached the upstream', () => upstream.arrived.length === 4)
    upstream.releaseAll()
    for (const r of await Promise.all(inFlight)) assert.equal(r.status, 200)
  })
})
