// `workers: 2` through the real process: one scrape of /stats/prometheus is the sum over both
// workers (the primary asks each and adds them up), so istio_requests_total after N requests is
// N whichever worker served them and whichever answered; admin POST /reload, which reaches one
// worker, is applied by all of them.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  parseResponses,
  rawRequest,
  request,
  startGateway,
} from './harness/index.js'
import type { GatewayProcess } from './harness/index.js'

const REQUESTS = 40
const DEADLINE_MS = 30_000

function routes(port: number, body: string): string {
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  servers:
    - port: {number: ${port}, name: http, protocol: HTTP}
      hosts: ['*']
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: hello}
spec:
  hosts: ['*']
  gateways: [edge]
  http:
    - name: hello
      directResponse: {status: 200, body: {string: ${body}}}
`
}

/** One request on its own connection, so the kernel spreads them over the workers. */
async function fresh(port: number): Promise<{ status: number; body: string }> {
  const raw = await rawRequest(
    port,
    'GET /hello HTTP/1.1\r\nhost: example.com\r\nconnection: close\r\n\r\n',
    { timeoutMs: 10_000 },
  )
  const res = parseResponses(raw.bytes).responses[0]
  assert.ok(res !== undefined, raw.text)
  return { status: res.status, body: res.body.toString('utf8') }
}

function requestsTotal(exposition: string): number {
  let sum = 0
  for (const line of exposition.split('\n')) {
    if (line.startsWith('istio_requests_total{'))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return sum
}

describe('workers: 2', () => {
  let gw: GatewayProcess
  let port: number
  let metrics: string
  let admin: string
  let configDoc: string

  before(async () => {
    const [p, readiness, m, a] = await freePorts(4)
    port = p!
    metrics = `http://127.0.0.1:${m!}/stats/prometheus`
    admin = `http://127.0.0.1:${a!}`
    configDoc = gatewayConfigDoc({
      readinessPort: readiness!,
      metricsPort: m!,
      adminPort: a!,
      extraSpec: ['  workers: 2'],
    })
    gw = await startGateway({
      yaml: joinDocs(configDoc, routes(port, 'one')),
      extraArgs: ['--no-watch'],
      readyTimeoutMs: 120_000,
    })
    await gw.waitForLine(/portcullis started.*workers/)
  })
  after(async () => {
    await gw?.cleanup()
  })

  test(`istio_requests_total after ${REQUESTS} requests is ${REQUESTS} in every scrape`, async () => {
    for (let i = 0; i < REQUESTS; i++) assert.equal((await fresh(port)).status, 200)
    // Each scrape may be answered while the last access is still being recorded: poll for the
    // total, then check that further scrapes keep giving exactly it.
    const until = Date.now() + DEADLINE_MS
    let total = 0
    for (let i = 0; i < 200 && Date.now() < until; i++) {
      total = requestsTotal((await request(metrics)).text)
      if (total >= REQUESTS) break
      await new Promise((r) => setTimeout(r, 50))
    }
    assert.equal(total, REQUESTS)
    for (let i = 0; i < 6; i++) assert.equal(requestsTotal((await request(metrics)).text), REQUESTS)
  })

  test('admin POST /reload reloads every worker', async () => {
    await gw.writeConfig(joinDocs(configDoc, routes(port, 'two')))
    const res = await request(`${admin}/reload`, { method: 'POST' })
    assert.equal(res.status, 200)
    assert.equal(res.json<{ result: string }>().result, 'applied')
    // 20 requests in a row on fresh connections all get the new body: both workers have it.
    const until = Date.now() + DEADLINE_MS
    let streak = 0
    for (let i = 0; i < 500 && streak < 20 && Date.now() < until; i++) {
      const r = await fresh(port)
      streak = r.body === 'two' ? streak + 1 : 0
    }
    assert.equal(streak, 20)
  })
})
