// x-forwarded-client-cert through the real gateway process, for each of Istio's
// gatewayTopology.forwardClientCertDetails modes (Envoy's forward_client_cert_details), on every
// listener kind: plain HTTP, a WebSocket upgrade on plain HTTP, the outbound proxy, and mutual
// TLS over HTTP/1.1 and HTTP/2. A client's XFCC only ever survives where the mode says it does.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { connect as h2connect } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { WebSocket, WebSocketServer } from 'ws'
import { createCa, issueCertificate, type Pem } from '../../src/cli/cert-forge.js'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  rawRequest,
  request,
  startGateway,
  startUpstream,
  type GatewayProcess,
  type Upstream,
} from './harness/index.js'

const EVIL = 'URI=spiffe://evil'
const XFCC = 'x-forwarded-client-cert'
const LOG_TIMEOUT_MS = 15_000
const REQUEST_TIMEOUT_MS = 5000

type Mode = 'SANITIZE' | 'FORWARD_ONLY' | 'APPEND_FORWARD' | 'SANITIZE_SET' | 'ALWAYS_FORWARD_ONLY'

/** This hop's description of the client certificate (SANITIZE_SET, APPEND_FORWARD). */
const OURS = /^Hash=[0-9a-f]{64};Subject="[^"]*";URI=spiffe:\/\/example\/ns\/a\/sa\/good$/

/** What the upstream must see on a connection without a client certificate. */
function expectedPlain(mode: Mode): string | undefined {
  return mode === 'ALWAYS_FORWARD_ONLY' ? EVIL : undefined
}

/** What the upstream must see on a mutual-TLS connection (the client sent EVIL). */
function checkMutual(mode: Mode, seen: string | undefined, where: string): void {
  switch (mode) {
    case 'SANITIZE':
      assert.equal(seen, undefined, where)
      return
    case 'FORWARD_ONLY':
    case 'ALWAYS_FORWARD_ONLY':
      assert.equal(seen, EVIL, where)
      return
    case 'APPEND_FORWARD': {
      assert.ok(seen?.startsWith(`${EVIL},`), `${where}: ${seen}`)
      assert.match((seen ?? '').slice(EVIL.length + 1), OURS, where)
      return
    }
    case 'SANITIZE_SET':
      assert.match(seen ?? '', OURS, where)
  }
}

/** A request over a fresh TLS connection with the client certificate (HTTP/1.1). */
function mutualRequest(port: number, ca: string, client: Pem, probe: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      servername: 'api.example.com',
      ca,
      cert: client.cert,
      key: client.key,
      ALPNProtocols: ['http/1.1'],
    })
    let data = ''
    const timer = setTimeout(() => socket.destroy(new Error('timeout')), REQUEST_TIMEOUT_MS)
    socket.on('secureConnect', () => {
      socket.write(
        `GET /mtls HTTP/1.1\r\nHost: api.example.com\r\n${XFCC}: ${EVIL}\r\n` +
          `x-probe: ${probe}\r\nConnection: close\r\n\r\n`,
      )
    })
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => (data += d))
    socket.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0))
    })
  })
}

/** One HTTP/2 request with the client certificate. */
function mutualH2Request(port: number, ca: string, client: Pem, probe: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`https://127.0.0.1:${port}`, {
      servername: 'api.example.com',
      ca,
      cert: client.cert,
      key: client.key,
    })
    const timer = setTimeout(() => session.destroy(new Error('timeout')), REQUEST_TIMEOUT_MS)
    session.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    const stream = session.request({
      ':path': '/mtls-h2',
      ':authority': 'api.example.com',
      [XFCC]: EVIL,
      'x-probe': probe,
    })
    let status = 0
    stream.on('response', (headers) => (status = Number(headers[':status'])))
    stream.resume()
    stream.on('end', () => {
      clearTimeout(timer)
      session.close()
      resolve(status)
    })
    stream.on('error', (err) => {
      clearTimeout(timer)
      session.destroy()
      reject(err)
    })
  })
}

describe('forwardClientCertDetails (real gateway process)', () => {
  const ca = createCa('xfcc CA')
  const server = issueCertificate(ca, { hosts: ['api.example.com'] })
  const client = issueCertificate(ca, {
    hosts: [],
    uris: ['spiffe://example/ns/a/sa/good'],
    client: true,
  })
  let gw: GatewayProcess
  let up: Upstream
  let wss: WebSocketServer
  const wsSeen: Array<Record<string, string | string[] | undefined>> = []
  let httpPort = 0
  let tlsPort = 0
  let outboundPort = 0
  let readinessPort = 0
  let probes = 0

  const config = (mode: Mode | undefined): string =>
    joinDocs(
      gatewayConfigDoc({
        readinessPort,
        accessLog: false,
        extraSpec: [
          '  outbound: {address: 127.0.0.1, port: ' + String(outboundPort) + '}',
          ...(mode !== undefined ? [`  gatewayTopology: {forwardClientCertDetails: ${mode}}`] : []),
        ],
      }),
      `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  servers:
    - port: {number: ${httpPort}, name: http, protocol: HTTP}
      hosts: ['*']
    - port: {number: ${tlsPort}, name: https-api, protocol: HTTPS}
      hosts: [api.example.com]
      tls: {mode: MUTUAL, credentialName: api}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: ['*']
  gateways: [edge]
  http:
    - route: [{destination: {host: echo.test}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ws}
spec:
  hosts: [ws.test]
  gateways: [edge]
  http:
    - route: [{destination: {host: ws.svc.test}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo}
spec:
  hosts: [echo.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${up.port}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ws}
spec:
  hosts: [ws.svc.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${(wss.address() as AddressInfo).port}}}]
`,
    )

  before(async () => {
    const ports = await freePorts(4)
    ;[httpPort, tlsPort, outboundPort, readinessPort] = ports as [number, number, number, number]
    up = await startUpstream({ name: 'echo' })
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await new Promise<void>((resolve) => wss.once('listening', resolve))
    wss.on('connection', (socket, req) => {
      wsSeen.push(req.headers)
      socket.close()
    })
    gw = await startGateway({
      yaml: config(undefined),
      files: {
        'certs/api/tls.crt': server.cert,
        'certs/api/tls.key': server.key,
        'certs/api/ca.crt': ca.cert,
      },
    })
  })

  after(async () => {
    await gw?.cleanup()
    await up?.close()
    for (const c of wss?.clients ?? []) c.terminate()
    await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()))
  })

  /** The XFCC the upstream saw on the request carrying `x-probe: probe`. */
  function seenBy(probe: string): string | undefined {
    const rec = up.requests.find((r) => r.headers['x-probe'] === probe)
    assert.ok(rec !== undefined, `the upstream never saw probe ${probe}`)
    const value = rec.headers[XFCC]
    return Array.isArray(value) ? value.join(',') : value
  }

  function nextProbe(): string {
    probes += 1
    return `p${probes}`
  }

  async function plainHttp(mode: Mode): Promise<void> {
    const probe = nextProbe()
    const res = await request(`http://127.0.0.1:${httpPort}/plain`, {
      headers: { host: 'web.test', [XFCC]: EVIL, 'x-probe': probe },
      timeoutMs: REQUEST_TIMEOUT_MS,
    })
    assert.equal(res.status, 200)
    assert.equal(seenBy(probe), expectedPlain(mode), 'plain HTTP')
  }

  async function outbound(mode: Mode): Promise<void> {
    const probe = nextProbe()
    const res = await rawRequest(
      outboundPort,
      `GET http://echo.test/outbound HTTP/1.1\r\nHost: echo.test\r\n${XFCC}: ${EVIL}\r\n` +
        `x-probe: ${probe}\r\nConnection: close\r\n\r\n`,
      { timeoutMs: REQUEST_TIMEOUT_MS },
    )
    assert.match(res.text, /^HTTP\/1\.1 200 /, res.text)
    assert.equal(seenBy(probe), expectedPlain(mode), 'outbound proxy')
  }

  async function webSocket(mode: Mode): Promise<void> {
    const probe = nextProbe()
    const ws = new WebSocket(`ws://127.0.0.1:${httpPort}/chat`, {
      headers: { host: 'ws.test', [XFCC]: EVIL, 'x-probe': probe },
    })
    await new Promise<void>((resolve, reject) => {
      ws.once('close', () => resolve())
      ws.once('error', reject)
    })
    const seen = wsSeen.find((h) => h['x-probe'] === probe)
    assert.ok(seen !== undefined, 'the WebSocket upstream never saw the upgrade')
    assert.equal(seen[XFCC], expectedPlain(mode), 'WebSocket upgrade')
  }

  async function mutual(mode: Mode): Promise<void> {
    const probe = nextProbe()
    assert.equal(await mutualRequest(tlsPort, ca.cert, client, probe), 200)
    checkMutual(mode, seenBy(probe), 'mTLS HTTP/1.1')
    const h2 = nextProbe()
    assert.equal(await mutualH2Request(tlsPort, ca.cert, client, h2), 200)
    checkMutual(mode, seenBy(h2), 'mTLS HTTP/2')
  }

  async function probeAll(mode: Mode): Promise<void> {
    await plainHttp(mode)
    await outbound(mode)
    await webSocket(mode)
    await mutual(mode)
  }

  test('default (no gatewayTopology): SANITIZE_SET, and a spoofed XFCC on plain HTTP is removed', async () => {
    await probeAll('SANITIZE_SET')
  })

  for (const mode of [
    'SANITIZE',
    'FORWARD_ONLY',
    'APPEND_FORWARD',
    'ALWAYS_FORWARD_ONLY',
    'SANITIZE_SET',
  ] as const) {
    test(`${mode} on every listener kind`, async () => {
      const mark = gw.mark()
      await gw.writeConfig(config(mode))
      await gw.waitForLine(/config applied/, LOG_TIMEOUT_MS, { since: mark })
      await probeAll(mode)
    })
  }
})
