// WebSocket through the real gateway process: the Upgrade is routed like any request, relayed to
// a ws server on loopback, and the bytes flow both ways; other upgrades are refused. An upgrade
// is a request that ends in a tunnel: httpsRedirect, rate limits, CORS and faults apply to it.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { WebSocket, WebSocketServer } from 'ws'
import {
  freePort,
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  rawRequest,
  type GatewayProcess,
  startGateway,
} from './harness/index.js'

function upstreamDocs(name: string, port: number, policy: readonly string[] = []): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${name}
spec:
  hosts: [${name}.test]
  gateways: [gw]
  http:
    - name: ${name}
${policy.map((line) => `      ${line}\n`).join('')}      route:
        - destination: { host: ${name}.svc.test, port: { number: 80 } }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${name}
spec:
  hosts: [${name}.svc.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
    - { number: 80, name: http, protocol: HTTP }
  endpoints:
    - { address: 127.0.0.1, ports: { http: ${port} } }`
}

describe('WebSocket tunnel (real gateway process)', () => {
  let gw: GatewayProcess
  let gatewayPort = 0
  let securePort = 0
  let wss: WebSocketServer
  const seenHeaders: Array<Record<string, string | string[] | undefined>> = []

  before(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await new Promise<void>((resolve) => wss.once('listening', resolve))
    wss.on('connection', (socket, req) => {
      seenHeaders.push(req.headers)
      socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }))
    })
    const closed = await freePort()
    const [port, readinessPort, redirectPort] = await freePorts(3)
    gatewayPort = port!
    securePort = redirectPort!
    const wsPort = (wss.address() as AddressInfo).port
    gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({ readinessPort: readinessPort! }),
        `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  servers:
    - port: { number: ${gatewayPort}, name: http, protocol: HTTP }
      hosts: ["*"]
    - port: { number: ${securePort}, name: http-redirect, protocol: HTTP }
      hosts: ["*"]
      tls: { httpsRedirect: true }`,
        upstreamDocs('ws', wsPort),
        upstreamDocs('dead', closed),
        upstreamDocs('limited', wsPort),
        upstreamDocs('cors', wsPort, [
          'corsPolicy: { allowOrigins: [{ exact: https://app.test }] }',
        ]),
        upstreamDocs('fault', wsPort, [
          'fault: { abort: { httpStatus: 418, percentage: { value: 100 } } }',
        ]),
        `apiVersion: portcullis.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: ws-limit, namespace: default }
spec:
  targetRefs: [{ kind: VirtualService, name: limited }]
  rules: [{ by: ['header:x-run'], limit: { requests: 1, unit: hour } }]`,
      ),
    })
  })

  after(async () => {
    await gw?.cleanup()
    for (const c of wss?.clients ?? []) c.terminate()
    await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()))
  })

  const upgradeRequest = (host: string, upgrade: string, id: string): string =>
    `GET /chat HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: ${upgrade}\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
    `x-request-id: ${id}\r\n\r\n`

  test('text and binary messages echo through the tunnel; one access-log line at close', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gatewayPort}/chat?room=1`, {
      headers: { host: 'ws.test', 'x-request-id': 'ws-echo' },
    })
    const received: Array<{ data: Buffer; isBinary: boolean }> = []
    ws.on('message', (data, isBinary) => received.push({ data: data as Buffer, isBinary }))
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    ws.send('hello through the gateway')
    const binary = Buffer.from([0, 1, 2, 250, 255])
    ws.send(binary)
    const big = 'x'.repeat(200_000)
    ws.send(big)
    for (let i = 0; i < 200 && received.length < 3; i++) {
      await new Promise((r) => setTimeout(r, 25))
    }
    assert.equal(received.length, 3)
    assert.equal(received[0]!.data.toString(), 'hello through the gateway')
    assert.equal(received[0]!.isBinary, false)
    assert.deepEqual(received[1]!.data, binary)
    assert.equal(received[1]!.isBinary, true)
    assert.equal(received[2]!.data.toString(), big)
    const upstreamSaw = seenHeaders.at(-1)!
    assert.equal(upstreamSaw['x-request-id'], 'ws-echo')
    assert.equal(upstreamSaw['x-forwarded-proto'], 'http')
    assert.equal(upstreamSaw['host'], 'ws.test')
    ws.close()
    await new Promise<void>((resolve) => ws.once('close', () => resolve()))
    const line = await gw.waitForLine(/"ws-echo"/, 10_000, { stream: 'stdout' })
    assert.match(line, /"GET \/chat\?room=1 HTTP\/1\.1" 101 - via_upstream /)
    const [, received_, sent] = /" 101 - via_upstream - "-" (\d+) (\d+) /.exec(line) ?? []
    assert.ok(Number(received_) > 200_000, `bytes received ${received_}`)
    assert.ok(Number(sent) > 200_000, `bytes sent ${sent}`)
  })

  test('an Upgrade other than websocket is refused with 403', async () => {
    const res = await rawRequest(gatewayPort, upgradeRequest('ws.test', 'foo/1', 'ws-foo'), {
      timeoutMs: 5000,
    })
    assert.match(res.text, /^HTTP\/1\.1 403 /)
    assert.ok(!seenHeaders.some((h) => h['x-request-id'] === 'ws-foo'))
    assert.match(
      await gw.waitForLine(/"ws-foo"/, 10_000, { stream: 'stdout' }),
      /" 403 - upgrade_failed /,
    )
  })

  test('h2c stays refused', async () => {
    const res = await rawRequest(gatewayPort, upgradeRequest('ws.test', 'h2c', 'ws-h2c'), {
      timeoutMs: 5000,
    })
    assert.match(res.text, /^HTTP\/1\.1 400 /)
  })

  test('no route: 404 NR on the socket', async () => {
    const res = await rawRequest(
      gatewayPort,
      upgradeRequest('nowhere.test', 'websocket', 'ws-nr'),
      {
        timeoutMs: 5000,
      },
    )
    assert.match(res.text, /^HTTP\/1\.1 404 /)
    assert.match(
      await gw.waitForLine(/"ws-nr"/, 10_000, { stream: 'stdout' }),
      /" 404 NR route_not_found /,
    )
  })

  test('closed upstream port: 503 UF', async () => {
    const res = await rawRequest(gatewayPort, upgradeRequest('dead.test', 'websocket', 'ws-uf'), {
      timeoutMs: 5000,
    })
    assert.match(res.text, /^HTTP\/1\.1 503 /)
    assert.match(
      await gw.waitForLine(/"ws-uf"/, 10_000, { stream: 'stdout' }),
      /" 503 UF upstream_reset_before_response_started\{connection_failure\} /,
    )
  })

  /** Opens a WebSocket through the gateway; resolves with the 101's headers, or the refusal. */
  const openSocket = (
    port: number,
    headers: Record<string, string>,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`, { headers })
      ws.once('upgrade', (res) => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers })
        ws.terminate()
      })
      ws.once('unexpected-response', (_req, res) => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers })
        res.resume()
        ws.terminate()
      })
      ws.once('error', reject)
    })

  test('an upgrade to an httpsRedirect server gets the 301, not 404', async () => {
    const res = await openSocket(securePort, { host: 'ws.test', 'x-request-id': 'ws-301' })
    assert.equal(res.status, 301)
    assert.equal(res.headers['location'], 'https://ws.test/chat')
    assert.match(
      await gw.waitForLine(/"ws-301"/, 10_000, { stream: 'stdout' }),
      /" 301 - https_redirect /,
    )
  })

  test('an upgrade over the RateLimitPolicy gets 429 RL', async () => {
    const headers = { host: 'limited.test', 'x-run': 'ws-rl' }
    const first = await openSocket(gatewayPort, { ...headers, 'x-request-id': 'ws-rl-1' })
    assert.equal(first.status, 101)
    assert.equal(first.headers['ratelimit-remaining'], '0')
    const second = await openSocket(gatewayPort, { ...headers, 'x-request-id': 'ws-rl-2' })
    assert.equal(second.status, 429)
    assert.equal(second.headers['x-envoy-ratelimited'], 'true')
    assert.match(
      await gw.waitForLine(/"ws-rl-2"/, 10_000, { stream: 'stdout' }),
      /" 429 RL request_rate_limited /,
    )
  })

  test('CORS applies to an upgrade: only an allowed Origin is echoed on the 101', async () => {
    const allowed = await openSocket(gatewayPort, { host: 'cors.test', origin: 'https://app.test' })
    assert.equal(allowed.status, 101)
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://app.test')
    const denied = await openSocket(gatewayPort, { host: 'cors.test', origin: 'https://evil.test' })
    assert.equal(denied.status, 101)
    assert.equal(denied.headers['access-control-allow-origin'], undefined)
  })

  test('a route with a fault abort answers an upgrade with the abort status', async () => {
    const seenBefore = seenHeaders.length
    const res = await openSocket(gatewayPort, { host: 'fault.test', 'x-request-id': 'ws-fi' })
    assert.equal(res.status, 418)
    assert.equal(seenHeaders.length, seenBefore, 'nothing reached the upstream')
    assert.match(
      await gw.waitForLine(/"ws-fi"/, 10_000, { stream: 'stdout' }),
      /" 418 FI fault_filter_abort /,
    )
  })
})
