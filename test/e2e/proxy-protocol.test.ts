// Downstream PROXY protocol through the real gateway process, as a cloud load balancer sends it:
// v1 and v2 (with TLVs) from the trusted balancer address on an HTTP, a TLS-terminating and a
// passthrough listener; the address it carries is what the upstream (x-forwarded-for,
// x-envoy-external-address) and the access log see. A second loopback address plays a client
// that reaches the gateway directly: its header is not honoured. Malformed, missing and slow
// headers close the connection before anything reaches an upstream.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls'
import { createCa, issueCertificate } from '../../src/cli/cert-forge.js'
import {
  freePorts,
  startGateway,
  startUpstream,
  type GatewayProcess,
  type Upstream,
} from './harness/index.js'
import { exchange, get, v1Header, v2Header } from './proxy-kit.js'

const LB = '127.0.0.1'
const DIRECT = '127.0.0.2'

describe('PROXY protocol on HTTP, TLS and passthrough listeners (e2e)', () => {
  const ca = createCa('proxy test CA')
  const web = issueCertificate(ca, { hosts: ['web.example.com'] })
  const db = issueCertificate(ca, { hosts: ['db.example.com'] })
  let gw: GatewayProcess
  let up: Upstream
  let backend: TlsServer
  let backendConnections = 0
  let httpPort: number
  let tlsPort: number
  let plainPort: number
  let accessLog: string
  let logDir: string | undefined

  before(async () => {
    const [p1, p2, p3, readiness] = await freePorts(4)
    httpPort = p1!
    tlsPort = p2!
    plainPort = p3!
    up = await startUpstream({ name: 'echo' })
    backend = createTlsServer({ cert: db.cert, key: db.key }, (s) => {
      backendConnections++
      s.end('passthrough-backend\n')
    })
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r))
    const backendPort = (backend.address() as { port: number }).port
    const yaml = `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: { name: gateway }
spec:
  bindAddress: 0.0.0.0
  admin: { port: 0 }
  metrics: { port: 0 }
  readiness: { port: ${readiness} }
  accessLog:
    path: ACCESS_LOG
    format: "%DOWNSTREAM_REMOTE_ADDRESS% %REQ(:PATH)% %RESPONSE_CODE%\\n"
  gatewayTopology:
    proxyProtocol:
      trustedCidrs: [${LB}/32]
      ports: [${httpPort}, ${tlsPort}]
      headerTimeout: 1s
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  servers:
    - port: { number: ${httpPort}, name: http, protocol: HTTP }
      hosts: ['*']
    - port: { number: ${plainPort}, name: http-plain, protocol: HTTP }
      hosts: ['*']
    - port: { number: ${tlsPort}, name: https-web, protocol: HTTPS }
      hosts: [web.example.com]
      tls: { mode: SIMPLE, credentialName: web }
    - port: { number: ${tlsPort}, name: tls-db, protocol: TLS }
      hosts: [db.example.com]
      tls: { mode: PASSTHROUGH }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: app }
spec:
  hosts: ['*']
  gateways: [edge]
  http:
    - route: [{ destination: { host: echo.test } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: db }
spec:
  hosts: [db.example.com]
  gateways: [edge]
  tls:
    - match: [{ sniHosts: [db.example.com] }]
      route: [{ destination: { host: db.test } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: echo }
spec:
  hosts: [echo.test]
  ports: [{ number: ${up.port}, name: http, protocol: HTTP }]
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1 }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: db }
spec:
  hosts: [db.test]
  ports: [{ number: ${backendPort}, name: tls, protocol: TLS }]
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1 }]
`
    logDir = await mkdtemp(join(tmpdir(), 'portcullis-proxy-log-'))
    accessLog = join(logDir, 'access.log')
    gw = await startGateway({
      yaml: yaml.replace('ACCESS_LOG', JSON.stringify(accessLog)),
      files: { 'certs/web/tls.crt': web.cert, 'certs/web/tls.key': web.key },
    })
  })

  after(async () => {
    await gw?.cleanup()
    await up?.close()
    backend?.close()
    if (logDir !== undefined) await rm(logDir, { recursive: true, force: true })
  })

  async function logLineFor(path: string): Promise<string> {
    const deadline = Date.now() + 20_000
    for (let i = 0; i < 400 && Date.now() < deadline; i++) {
      const text = await readFile(accessLog, 'utf8').catch(() => '')
      const line = text.split('\n').find((l) => l.includes(` ${path} `))
      if (line !== undefined) return line
      await new Promise((r) => setTimeout(r, 50))
    }
    throw new Error(`no access log line for ${path}`)
  }

  function lastRequest(path: string) {
    const rec = up.requests.find((r) => r.path === path)
    assert.ok(rec, `upstream saw ${path}`)
    return rec
  }

  test('HTTP, v1 from the balancer: the carried address is the client everywhere', async () => {
    const r = await exchange({
      port: httpPort,
      localAddress: LB,
      prefix: v1Header({
        source: '203.0.113.7',
        sourcePort: 40001,
        destination: '198.51.100.1',
        destinationPort: 80,
      }),
      request: get('/v1-http'),
    })
    assert.equal(r.status, 200, r.data)
    const rec = lastRequest('/v1-http')
    assert.equal(rec.headers['x-forwarded-for'], '203.0.113.7')
    assert.equal(rec.headers['x-envoy-external-address'], '203.0.113.7')
    assert.match(await logLineFor('/v1-http'), /^203\.0\.113\.7:40001 \/v1-http 200$/)
  })

  test('HTTP, v2 over IPv6 with TLVs (authority, unique id, AWS VPC endpoint)', async () => {
    const r = await exchange({
      port: httpPort,
      localAddress: LB,
      prefix: v2Header(
        {
          source: '2001:db8::7',
          sourcePort: 5555,
          destination: '2001:db8::1',
          destinationPort: 80,
        },
        [
          { type: 0x02, value: Buffer.from('app.example.com') },
          { type: 0x05, value: Buffer.from('conn-42') },
          { type: 0xea, value: Buffer.from('\x01vpce-08d2bf15fac5001c9') },
        ],
      ),
      request: get('/v2-http'),
    })
    assert.equal(r.status, 200, r.data)
    assert.equal(lastRequest('/v2-http').headers['x-forwarded-for'], '2001:db8::7')
    assert.match(await logLineFor('/v2-http'), /^\[2001:db8::7\]:5555 \/v2-http 200$/)
  })

  test('v2 LOCAL (the balancer health-checking itself): served with the connection address', async () => {
    const r = await exchange({
      port: httpPort,
      localAddress: LB,
      prefix: v2Header(
        { source: '10.9.9.9', sourcePort: 1, destination: '10.0.0.1', destinationPort: 80 },
        [],
        'LOCAL',
      ),
      request: get('/v2-local'),
    })
    assert.equal(r.status, 200, r.data)
    assert.equal(lastRequest('/v2-local').headers['x-forwarded-for'], LB)
  })

  test('TLS terminated after a v2 header: SNI still picks the certificate, the client is carried', async () => {
    const r = await exchange({
      port: tlsPort,
      localAddress: LB,
      prefix: v2Header({
        source: '198.51.100.9',
        sourcePort: 6000,
        destination: '10.0.0.1',
        destinationPort: 443,
      }),
      tls: { servername: 'web.example.com', ca: ca.cert },
      request: get('/v2-tls', 'web.example.com'),
    })
    assert.equal(r.status, 200, r.data)
    assert.equal(lastRequest('/v2-tls').headers['x-forwarded-for'], '198.51.100.9')
    assert.match(await logLineFor('/v2-tls'), /^198\.51\.100\.9:6000 \/v2-tls 200$/)
  })

  test('TLS passthrough after a v1 header: the SNI route reaches the backend, without the header', async () => {
    const before = backendConnections
    const r = await exchange({
      port: tlsPort,
      localAddress: LB,
      prefix: v1Header({
        source: '192.0.2.44',
        sourcePort: 7000,
        destination: '10.0.0.1',
        destinationPort: 443,
      }),
      tls: { servername: 'db.example.com', ca: ca.cert },
    })
    // The backend's own certificate verified and its reply came through: the header was consumed.
    assert.equal(r.data, 'passthrough-backend\n')
    assert.equal(backendConnections, before + 1)
  })

  test('an untrusted source: its header is not honoured, its own address is the client', async () => {
    const seen = up.requests.length
    const spoofed = await exchange({
      port: httpPort,
      localAddress: DIRECT,
      prefix: v1Header({
        source: '203.0.113.66',
        sourcePort: 1,
        destination: '10.0.0.1',
        destinationPort: 80,
      }),
      request: get('/spoofed'),
    })
    assert.equal(spoofed.status, 400, spoofed.data)
    assert.equal(up.requests.length, seen, 'nothing reached the upstream')
    const direct = await exchange({ port: httpPort, localAddress: DIRECT, request: get('/direct') })
    assert.equal(direct.status, 200, direct.data)
    assert.equal(lastRequest('/direct').headers['x-forwarded-for'], DIRECT)
    const tls = await exchange({
      port: tlsPort,
      localAddress: DIRECT,
      prefix: v2Header({
        source: '203.0.113.66',
        sourcePort: 1,
        destination: '10.0.0.1',
        destinationPort: 443,
      }),
      tls: { servername: 'web.example.com', ca: ca.cert },
      request: get('/spoofed-tls', 'web.example.com'),
    })
    assert.equal(tls.status, undefined, 'no TLS session behind a header from an untrusted source')
  })

  test('a listener outside `ports` does not read headers', async () => {
    const r = await exchange({
      port: plainPort,
      localAddress: LB,
      prefix: v1Header({
        source: '203.0.113.8',
        sourcePort: 1,
        destination: '10.0.0.1',
        destinationPort: 80,
      }),
      request: get('/other-port'),
    })
    assert.equal(r.status, 400)
    const plain = await exchange({
      port: plainPort,
      localAddress: LB,
      request: get('/other-plain'),
    })
    assert.equal(plain.status, 200)
  })

  test('malformed, missing, oversized and unfinished headers: closed, nothing upstream', async () => {
    const seen = up.requests.length
    const bad: [string, Buffer][] = [
      ['no header', Buffer.from(get('/missing'))],
      ['v1 LF only', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n' + get('/bad'))],
      ['v1 bad address', Buffer.from('PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n' + get('/bad'))],
      ['v1 over 107 bytes', Buffer.from('PROXY TCP4 ' + ' '.repeat(120) + '\r\n' + get('/bad'))],
      [
        'v2 version 3',
        Buffer.concat([
          v2Header({
            source: '1.2.3.4',
            sourcePort: 1,
            destination: '5.6.7.8',
            destinationPort: 2,
          }).fill(0x31, 12, 13),
          Buffer.from(get('/bad')),
        ]),
      ],
      [
        'v2 over the size bound',
        (() => {
          const h = v2Header({
            source: '1.2.3.4',
            sourcePort: 1,
            destination: '5.6.7.8',
            destinationPort: 2,
          })
          h.writeUInt16BE(60_000, 14)
          return h
        })(),
      ],
    ]
    for (const [name, bytes] of bad) {
      const r = await exchange({ port: httpPort, localAddress: LB, prefix: bytes })
      assert.equal(r.data, '', `${name}: closed without a reply`)
    }
    for (const port of [httpPort, tlsPort]) {
      // Half a header, then nothing: closed once the header timeout (1s) passes.
      const started = Date.now()
      const r = await exchange({ port, localAddress: LB, prefix: Buffer.from('PROXY TCP4 1.2.') })
      assert.equal(r.data, '')
      assert.ok(
        Date.now() - started < 19_000,
        'closed by the header timeout, not the test deadline',
      )
    }
    assert.equal(up.requests.length, seen, 'nothing reached the upstream')
    const tls = await exchange({
      port: tlsPort,
      localAddress: LB,
      tls: { servername: 'web.example.com', ca: ca.cert },
      request: get('/no-header-tls', 'web.example.com'),
    })
    assert.equal(tls.status, undefined, 'a TLS client without a header gets no session')
  })
})
