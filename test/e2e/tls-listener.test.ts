// TLS at the edge through the real gateway process: SNI chains with their own certificates,
// unknown SNI refused, 421 on Host/SNI mismatch, MUTUAL (good, no cert, other CA, wrong SAN) on
// TLS 1.2 and 1.3, XFCC upstream, PASSTHROUGH to a TLS upstream, TCP routes split 80/20.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer as createNetServer, type Server as NetServer } from 'node:net'
import { connect, createServer as createTlsServer, type Server as TlsServer } from 'node:tls'
import { X509Certificate } from 'node:crypto'
import { createCa, issueCertificate, type Pem } from '../../src/cli/cert-forge.js'
import {
  freePorts,
  gatewayConfigDoc,
  startGateway,
  startUpstream,
  type GatewayProcess,
  type Upstream,
} from './harness/index.js'

interface TlsReply {
  status: number | undefined
  body: string
  peerSerial: string | undefined
  alpn: string | false | null | undefined
}

/** One HTTP/1.1 request over a fresh TLS connection; status undefined when no HTTP came back. */
function tlsRequest(
  port: number,
  opts: {
    sni: string
    host?: string
    ca: string
    client?: Pem
    version?: 'TLSv1.2' | 'TLSv1.3'
    path?: string
    /** Extra request header lines, e.g. `Upgrade: websocket`. */
    headers?: readonly string[]
  },
): Promise<TlsReply> {
  return new Promise((resolve) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      servername: opts.sni,
      ca: opts.ca,
      ...(opts.client !== undefined ? { cert: opts.client.cert, key: opts.client.key } : {}),
      ...(opts.version !== undefined ? { minVersion: opts.version, maxVersion: opts.version } : {}),
      ALPNProtocols: ['http/1.1'],
    })
    let data = ''
    let serial: string | undefined
    let alpn: string | false | null | undefined
    const timer = setTimeout(() => socket.destroy(), 3000)
    const finish = (): void => {
      clearTimeout(timer)
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data)
      const i = data.indexOf('\r\n\r\n')
      resolve({
        status: m ? Number(m[1]) : undefined,
        body: i < 0 ? '' : data.slice(i + 4),
        peerSerial: serial,
        alpn,
      })
    }
    socket.on('secureConnect', () => {
      serial = socket.getPeerX509Certificate()?.serialNumber
      alpn = socket.alpnProtocol
      socket.write(
        `GET ${opts.path ?? '/'} HTTP/1.1\r\nHost: ${opts.host ?? opts.sni}\r\n` +
          (opts.headers ?? ['Connection: close']).map((h) => `${h}\r\n`).join('') +
          '\r\n',
      )
    })
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => (data += d))
    socket.on('error', () => undefined)
    socket.on('close', finish)
  })
}

function serialOf(pem: Pem): string {
  return new X509Certificate(pem.cert).serialNumber
}

describe('TLS listener (e2e)', () => {
  const ca = createCa('test CA')
  const otherCa = createCa('other CA')
  const web = issueCertificate(ca, { hosts: ['web.example.com'] })
  const api = issueCertificate(ca, { hosts: ['api.example.com'] })
  const goodClient = issueCertificate(ca, {
    hosts: [],
    uris: ['spiffe://example/ns/a/sa/good'],
    client: true,
  })
  const badSanClient = issueCertificate(ca, {
    hosts: [],
    uris: ['spiffe://example/ns/a/sa/bad'],
    client: true,
  })
  const strangerClient = issueCertificate(otherCa, {
    hosts: [],
    uris: ['spiffe://example/ns/a/sa/good'],
    client: true,
  })
  const backendCert = issueCertificate(ca, { hosts: ['db.example.com'] })
  let gw: GatewayProcess
  let up: Upstream
  let tlsPort: number
  let tcpPort: number
  let backend: TlsServer
  const tcpBackends: NetServer[] = []
  const tcpHits = { a: 0, b: 0 }

  before(async () => {
    const [p1, p2, readiness] = await freePorts(3)
    tlsPort = p1!
    tcpPort = p2!
    up = await startUpstream({ name: 'echo' })
    backend = createTlsServer({ cert: backendCert.cert, key: backendCert.key }, (s) =>
      s.end('passthrough-backend\n'),
    )
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r))
    for (const name of ['a', 'b'] as const) {
      const s = createNetServer((c) => {
        tcpHits[name]++
        c.end(`${name}\n`)
      })
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
      tcpBackends.push(s)
    }
    const portOf = (s: NetServer | TlsServer) => (s.address() as { port: number }).port
    const yaml = `${gatewayConfigDoc({ readinessPort: readiness! })}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  servers:
    - port: { number: ${tlsPort}, name: https-web, protocol: HTTPS }
      hosts: [web.example.com]
      tls: { mode: SIMPLE, credentialName: web }
    - port: { number: ${tlsPort}, name: https-api, protocol: HTTPS }
      hosts: [api.example.com]
      tls:
        mode: MUTUAL
        credentialName: api
        subjectAltNames: ['spiffe://example/ns/a/sa/good']
    - port: { number: ${tlsPort}, name: tls-db, protocol: TLS }
      hosts: [db.example.com]
      tls: { mode: PASSTHROUGH }
    - port: { number: ${tcpPort}, name: tcp, protocol: TCP }
      hosts: ['*']
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web }
spec:
  hosts: [web.example.com, api.example.com]
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
kind: VirtualService
metadata: { name: tcp }
spec:
  hosts: ['*']
  gateways: [edge]
  tcp:
    - route:
        - { destination: { host: tcp-a.test }, weight: 80 }
        - { destination: { host: tcp-b.test }, weight: 20 }
${[
  ['echo', up.port],
  ['db', portOf(backend)],
  ['tcp-a', portOf(tcpBackends[0]!)],
  ['tcp-b', portOf(tcpBackends[1]!)],
]
  .map(
    ([n, p]) => `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${n} }
spec:
  hosts: [${n}.test]
  ports: [{ number: ${p}, name: ${n === 'echo' ? 'http' : 'tcp'}, protocol: ${n === 'echo' ? 'HTTP' : 'TCP'} }]
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1 }]
`,
  )
  .join('')}`
    gw = await startGateway({
      yaml,
      files: {
        'certs/web/tls.crt': web.cert,
        'certs/web/tls.key': web.key,
        'certs/api/tls.crt': api.cert,
        'certs/api/tls.key': api.key,
        'certs/api/ca.crt': ca.cert,
      },
    })
  })

  after(async () => {
    await gw?.cleanup()
    await up?.close()
    backend?.close()
    for (const s of tcpBackends) s.close()
  })

  test('SNI picks the server and its certificate', async () => {
    const r = await tlsRequest(tlsPort, { sni: 'web.example.com', ca: ca.cert, path: '/headers' })
    assert.equal(r.status, 200)
    assert.equal(r.peerSerial, serialOf(web))
    const m = await tlsRequest(tlsPort, { sni: 'api.example.com', ca: ca.cert, client: goodClient })
    assert.equal(m.status, 200)
    assert.equal(m.peerSerial, serialOf(api))
  })

  test('unknown SNI: the handshake is refused', async () => {
    const r = await tlsRequest(tlsPort, { sni: 'nope.example.com', ca: ca.cert })
    assert.equal(r.peerSerial, undefined)
    assert.equal(r.status, undefined)
  })

  test('Host outside the SNI server: 421', async () => {
    const r = await tlsRequest(tlsPort, {
      sni: 'web.example.com',
      host: 'api.example.com',
      ca: ca.cert,
    })
    assert.equal(r.status, 421)
  })

  test('a WebSocket upgrade with a Host outside the SNI server: 421, as any request', async () => {
    const r = await tlsRequest(tlsPort, {
      sni: 'web.example.com',
      host: 'api.example.com',
      ca: ca.cert,
      headers: [
        'Connection: Upgrade',
        'Upgrade: websocket',
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      ],
    })
    assert.equal(r.status, 421)
  })

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    test(`MUTUAL on ${version}: good cert 200 with XFCC, no cert / other CA no HTTP, wrong SAN 403`, async () => {
      const good = await tlsRequest(tlsPort, {
        sni: 'api.example.com',
        ca: ca.cert,
        client: goodClient,
        version,
        path: '/headers',
      })
      assert.equal(good.status, 200)
      assert.match(good.body, /x-forwarded-client-cert/i)
      assert.match(good.body, /URI=spiffe:\/\/example\/ns\/a\/sa\/good/)
      const none = await tlsRequest(tlsPort, { sni: 'api.example.com', ca: ca.cert, version })
      assert.equal(none.status, undefined)
      const stranger = await tlsRequest(tlsPort, {
        sni: 'api.example.com',
        ca: ca.cert,
        client: strangerClient,
        version,
      })
      assert.equal(stranger.status, undefined)
      const wrongSan = await tlsRequest(tlsPort, {
        sni: 'api.example.com',
        ca: ca.cert,
        client: badSanClient,
        version,
      })
      assert.equal(wrongSan.status, 403)
    })
  }

  test('PASSTHROUGH: the client sees the upstream certificate', async () => {
    const serial = await new Promise<string | undefined>((resolve) => {
      const s = connect({
        host: '127.0.0.1',
        port: tlsPort,
        servername: 'db.example.com',
        ca: ca.cert,
      })
      s.on('secureConnect', () => {
        resolve(s.getPeerX509Certificate()?.serialNumber)
        s.destroy()
      })
      s.on('error', () => resolve(undefined))
    })
    assert.equal(serial, serialOf(backendCert))
  })

  test('TCP route: 80/20 split per connection', async () => {
    const n = 200
    for (let i = 0; i < n; i++) {
      await new Promise<void>((resolve) => {
        connectTcp(tcpPort, resolve)
      })
    }
    assert.equal(tcpHits.a + tcpHits.b, n)
    // Binomial(200, 0.8): mean 160, sd ≈ 5.7; ±6 sd keeps this from flaking.
    assert.ok(tcpHits.a > 125 && tcpHits.a < 195, `a=${tcpHits.a} b=${tcpHits.b}`)
  })
})

import { connect as connectNet } from 'node:net'
function connectTcp(port: number, done: () => void): ReturnType<typeof connectNet> {
  const c = connectNet({ host: '127.0.0.1', port })
  c.on('data', () => undefined)
  c.on('close', () => done())
  c.on('error', () => undefined)
  return c
}
