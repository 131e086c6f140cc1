// The rest of the TLS matrix through the real gateway process: OPTIONAL_MUTUAL with and without a
// client certificate; expired, not yet valid and revoked client certificates on TLS 1.2 and 1.3
// (a CRL per CA in the bundle); a TLS-terminated tcp route; httpsRedirect; certificate rotation
// under traffic and a broken new certificate; session resumption; curl and openssl s_client.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { createServer as createNetServer, type Server as NetServer } from 'node:net'
import { join } from 'node:path'
import { connect, type TLSSocket } from 'node:tls'
import { createCa, createCrl, issueCertificate, type Pem } from '../../src/cli/cert-forge.js'
import {
  curl,
  freePorts,
  gatewayConfigDoc,
  hasCurl,
  request,
  startGateway,
  startUpstream,
  type GatewayProcess,
  type Upstream,
} from './harness/index.js'

const DAY_MS = 86_400_000

interface TlsReply {
  /** undefined: no HTTP response came back. */
  status: number | undefined
  body: string
  peerSerial: string | undefined
  isReused: boolean
  session: Buffer | undefined
  /** The connection closed by itself (not by our timeout). */
  isClosed: boolean
}

interface TlsRequestOptions {
  sni: string
  ca: string
  client?: Pem
  version?: 'TLSv1.2' | 'TLSv1.3'
  path?: string
  session?: Buffer
}

/**
 * One HTTP/1.1 request over a new TLS connection, read until the server closes. On TLS 1.3 a
 * refused client certificate is only reported after the handshake, so success of the handshake
 * says nothing: what counts is whether HTTP bytes come back before the close.
 */
function tlsRequest(port: number, opts: TlsRequestOptions): Promise<TlsReply> {
  return new Promise((resolve) => {
    const socket: TLSSocket = connect({
      host: '127.0.0.1',
      port,
      servername: opts.sni,
      ca: opts.ca,
      ...(opts.client !== undefined ? { cert: opts.client.cert, key: opts.client.key } : {}),
      ...(opts.version !== undefined ? { minVersion: opts.version, maxVersion: opts.version } : {}),
      ...(opts.session !== undefined ? { session: opts.session } : {}),
      ALPNProtocols: ['http/1.1'],
    })
    let data = ''
    let serial: string | undefined
    let isReused = false
    let session: Buffer | undefined
    let isClosed = true
    const timer = setTimeout(() => {
      isClosed = false
      socket.destroy()
    }, 5000)
    socket.on('session', (s: Buffer) => (session = s))
    socket.on('secureConnect', () => {
      serial = socket.getPeerX509Certificate()?.serialNumber
      isReused = socket.isSessionReused()
      socket.write(
        `GET ${opts.path ?? '/'} HTTP/1.1\r\nHost: ${opts.sni}\r\nConnection: close\r\n\r\n`,
      )
    })
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => (data += d))
    socket.on('error', () => undefined)
    socket.on('close', () => {
      clearTimeout(timer)
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data)
      const i = data.indexOf('\r\n\r\n')
      resolve({
        status: m ? Number(m[1]) : undefined,
        body: i < 0 ? '' : data.slice(i + 4),
        peerSerial: serial,
        isReused,
        session,
        isClosed,
      })
    })
  })
}

function serialOf(pem: Pem): string {
  return new X509Certificate(pem.cert).serialNumber
}

function hasOpenssl(): boolean {
  return spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0
}

/** `openssl s_client` output (certificate subject lines) for one connection. */
function sClient(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', ['s_client', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 10_000,
    })
    let out = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')))
    child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')))
    child.on('error', reject)
    child.on('close', () => resolve(out))
    child.stdin.end('Q\n')
  })
}

describe('TLS matrix (e2e)', () => {
  const ca = createCa('matrix CA')
  const ca2 = createCa('second CA')
  const opt = issueCertificate(ca, { hosts: ['opt.example.com'] })
  const mtls = issueCertificate(ca, { hosts: ['mtls.example.com'] })
  const web = issueCertificate(ca, { hosts: ['web.example.com'] })
  const echo = issueCertificate(ca, { hosts: ['echo.example.com'] })
  const rot = issueCertificate(ca, { hosts: ['rot.example.com'] })
  const rotNext = issueCertificate(ca, { hosts: ['rot.example.com'] })
  const client = (issuer: Pem, name: string, extra: { notBefore?: Date; days?: number } = {}) =>
    issueCertificate(issuer, {
      hosts: [],
      uris: [`spiffe://example/ns/a/sa/${name}`],
      client: true,
      ...extra,
    })
  const good = client(ca, 'good')
  const good2 = client(ca2, 'good2')
  const expired = client(ca, 'expired', { notBefore: new Date(Date.now() - 10 * DAY_MS), days: 2 })
  const notYet = client(ca, 'later', { notBefore: new Date(Date.now() + 10 * DAY_MS) })
  const revoked = client(ca, 'revoked')
  let gw: GatewayProcess
  let up: Upstream
  let echoServer: NetServer
  let httpsPort: number
  let tcpTlsPort: number
  let httpPort: number
  let rotPort: number

  before(async () => {
    const [p1, p2, p3, p4, readiness] = await freePorts(5)
    httpsPort = p1!
    tcpTlsPort = p2!
    httpPort = p3!
    rotPort = p4!
    up = await startUpstream({ name: 'echo' })
    echoServer = createNetServer((c) => c.pipe(c))
    await new Promise<void>((r) => echoServer.listen(0, '127.0.0.1', r))
    const echoPort = (echoServer.address() as { port: number }).port
    const yaml = `${gatewayConfigDoc({ readinessPort: readiness! })}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  servers:
    - port: { number: ${httpsPort}, name: https-opt, protocol: HTTPS }
      hosts: [opt.example.com]
      tls: { mode: OPTIONAL_MUTUAL, credentialName: opt }
    - port: { number: ${httpsPort}, name: https-mtls, protocol: HTTPS }
      hosts: [mtls.example.com]
      tls: { mode: MUTUAL, credentialName: mtls }
    - port: { number: ${httpsPort}, name: https-web, protocol: HTTPS }
      hosts: [web.example.com]
      tls: { mode: SIMPLE, credentialName: web }
    - port: { number: ${tcpTlsPort}, name: tls-echo, protocol: TLS }
      hosts: [echo.example.com]
      tls: { mode: SIMPLE, credentialName: echo }
    - port: { number: ${httpPort}, name: http, protocol: HTTP }
      hosts: [redirect.example.com]
      tls: { httpsRedirect: true }
    - port: { number: ${rotPort}, name: https-rot, protocol: HTTPS }
      hosts: [rot.example.com]
      tls: { mode: SIMPLE, credentialName: rot }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web }
spec:
  hosts: [opt.example.com, mtls.example.com, web.example.com, redirect.example.com, rot.example.com]
  gateways: [edge]
  http:
    - route: [{ destination: { host: echo.test } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: tcp-echo }
spec:
  hosts: [echo.example.com]
  gateways: [edge]
  tcp:
    - match: [{ port: ${tcpTlsPort} }]
      route: [{ destination: { host: tcp-echo.test } }]
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
metadata: { name: tcp-echo }
spec:
  hosts: [tcp-echo.test]
  ports: [{ number: ${echoPort}, name: tcp, protocol: TCP }]
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1 }]
`
    gw = await startGateway({
      yaml,
      files: {
        'certs/opt/tls.crt': opt.cert,
        'certs/opt/tls.key': opt.key,
        'certs/opt/ca.crt': ca.cert,
        'certs/mtls/tls.crt': mtls.cert,
        'certs/mtls/tls.key': mtls.key,
        // Two CAs, a CRL for each: with CRLs on, a CA without one refuses all its clients.
        'certs/mtls/ca.crt': ca.cert + ca2.cert,
        'certs/mtls/ca.crl': createCrl(ca, [serialOf(revoked)]) + createCrl(ca2, []),
        'certs/web/tls.crt': web.cert,
        'certs/web/tls.key': web.key,
        'certs/echo/tls.crt': echo.cert,
        'certs/echo/tls.key': echo.key,
        'certs/rot/tls.crt': rot.cert,
        'certs/rot/tls.key': rot.key,
      },
    })
  })

  after(async () => {
    await gw?.cleanup()
    await up?.close()
    echoServer?.close()
  })

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    test(`OPTIONAL_MUTUAL on ${version}: with a certificate XFCC goes upstream, without one no XFCC`, async () => {
      const withCert = await tlsRequest(httpsPort, {
        sni: 'opt.example.com',
        ca: ca.cert,
        client: good,
        version,
        path: '/headers',
      })
      assert.equal(withCert.status, 200)
      assert.match(withCert.body, /URI=spiffe:\/\/example\/ns\/a\/sa\/good/)
      const without = await tlsRequest(httpsPort, {
        sni: 'opt.example.com',
        ca: ca.cert,
        version,
        path: '/headers',
      })
      assert.equal(without.status, 200)
      assert.doesNotMatch(without.body, /x-forwarded-client-cert/i)
    })

    test(`MUTUAL with CRLs on ${version}: both CAs' clients in, expired / not yet valid / revoked closed without HTTP`, async () => {
      for (const [name, cert] of [
        ['good', good],
        ['good2', good2],
      ] as const) {
        const r = await tlsRequest(httpsPort, {
          sni: 'mtls.example.com',
          ca: ca.cert,
          client: cert,
          version,
        })
        assert.equal(r.status, 200, name)
      }
      for (const [name, cert] of [
        ['expired', expired],
        ['not yet valid', notYet],
        ['revoked', revoked],
      ] as const) {
        const r = await tlsRequest(httpsPort, {
          sni: 'mtls.example.com',
          ca: ca.cert,
          client: cert,
          version,
        })
        assert.equal(r.status, undefined, `${name}: no HTTP response`)
        assert.equal(r.body, '', name)
        assert.ok(r.isClosed, `${name}: the gateway closed the connection`)
      }
    })
  }

  test('TLS server with a tcp route: terminated, plaintext piped to the upstream', async () => {
    const echoed = await new Promise<{ data: string; serial: string | undefined }>(
      (resolve, reject) => {
        const s = connect({
          host: '127.0.0.1',
          port: tcpTlsPort,
          servername: 'echo.example.com',
          ca: ca.cert,
        })
        let data = ''
        s.setEncoding('utf8')
        s.on('secureConnect', () => s.write('ping over tls\n'))
        s.on('data', (d: string) => {
          data += d
          if (data.includes('\n')) {
            resolve({ data, serial: s.getPeerX509Certificate()?.serialNumber })
            s.destroy()
          }
        })
        s.on('error', reject)
        setTimeout(() => reject(new Error('no echo')), 5000).unref()
      },
    )
    assert.equal(echoed.data, 'ping over tls\n')
    assert.equal(echoed.serial, serialOf(echo))
  })

  test('httpsRedirect: 301 to https with path and query', async () => {
    const res = await request(`http://127.0.0.1:${httpPort}/a/b?x=1&y=2`, {
      headers: { host: 'redirect.example.com' },
    })
    assert.equal(res.status, 301)
    assert.equal(res.headers['location'], 'https://redirect.example.com/a/b?x=1&y=2')
  })

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    test(`session resumption on ${version}`, async () => {
      const first = await tlsRequest(httpsPort, { sni: 'web.example.com', ca: ca.cert, version })
      assert.equal(first.status, 200)
      assert.equal(first.isReused, false)
      assert.ok(first.session !== undefined, 'the server issued a session')
      const second = await tlsRequest(httpsPort, {
        sni: 'web.example.com',
        ca: ca.cert,
        version,
        session: first.session,
      })
      assert.equal(second.status, 200)
      assert.equal(second.isReused, true)
    })
  }

  test(
    'curl: SNI picks the certificate; mTLS with --cert/--key',
    { skip: !hasCurl() },
    async () => {
      const dir = gw.dir
      await gw.writeFile('client/ca.crt', ca.cert)
      await gw.writeFile('client/good.crt', good.cert)
      await gw.writeFile('client/good.key', good.key)
      const base = [
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '--cacert',
        join(dir, 'client/ca.crt'),
      ]
      for (const host of ['web.example.com', 'opt.example.com']) {
        const r = await curl([
          ...base,
          '--resolve',
          `${host}:${httpsPort}:127.0.0.1`,
          `https://${host}:${httpsPort}/`,
        ])
        assert.equal(r.stdout, '200', `${host}: ${r.stderr}`)
      }
      const withCert = await curl([
        ...base,
        '--cert',
        join(dir, 'client/good.crt'),
        '--key',
        join(dir, 'client/good.key'),
        '--resolve',
        `mtls.example.com:${httpsPort}:127.0.0.1`,
        `https://mtls.example.com:${httpsPort}/`,
      ])
      assert.equal(withCert.stdout, '200', withCert.stderr)
      const without = await curl([
        ...base,
        '--resolve',
        `mtls.example.com:${httpsPort}:127.0.0.1`,
        `https://mtls.example.com:${httpsPort}/`,
      ])
      assert.notEqual(without.code, 0)
      assert.equal(without.stdout, '000')
    },
  )

  test(
    'openssl s_client -servername: the certificate of the SNI server',
    { skip: !hasOpenssl() },
    async () => {
      for (const host of ['web.example.com', 'mtls.example.com']) {
        const out = await sClient(['-connect', `127.0.0.1:${httpsPort}`, '-servername', host])
        assert.match(out, new RegExp(`subject=CN ?= ?${host.replace(/\./g, '\\.')}`), out)
      }
    },
  )

  test('rotation under traffic: no failed request, new connections see the new serial', async () => {
    const oldSerial = serialOf(rot)
    const newSerial = serialOf(rotNext)
    const first = await tlsRequest(rotPort, { sni: 'rot.example.com', ca: ca.cert })
    assert.equal(first.peerSerial, oldSerial)
    const failures: string[] = []
    let seenNew = false
    let rotated = false
    // Bounded: at most 400 requests or 15 s, whichever is first.
    const deadline = Date.now() + 15_000
    for (let i = 0; i < 400 && Date.now() < deadline && !seenNew; i++) {
      if (i === 20) {
        // Key first, then the certificate, each renamed into place (like a Secret update); the
        // moment in between has a mismatched pair, which must not take the old one out.
        await gw.writeFile('certs/rot/tls.key', rotNext.key)
        await gw.writeFile('certs/rot/tls.crt', rotNext.cert)
        rotated = true
      }
      const r = await tlsRequest(rotPort, { sni: 'rot.example.com', ca: ca.cert })
      if (r.status !== 200) failures.push(`request ${i}: ${String(r.status)}`)
      if (r.peerSerial === newSerial) seenNew = true
      else if (r.peerSerial !== oldSerial)
        failures.push(`request ${i}: serial ${String(r.peerSerial)}`)
    }
    assert.ok(rotated)
    assert.deepEqual(failures, [])
    assert.ok(seenNew, 'new connections present the new certificate')
  })

  test('a broken new certificate keeps the old one serving and is logged', async () => {
    const serial = (await tlsRequest(rotPort, { sni: 'rot.example.com', ca: ca.cert })).peerSerial
    assert.ok(serial !== undefined)
    const mark = gw.mark()
    await gw.writeFile(
      'certs/rot/tls.crt',
      '-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n',
    )
    await gw.waitForLine(
      /certificate reload failed; the previous certificates keep serving/,
      5000,
      {
        since: mark,
      },
    )
    const after = await tlsRequest(rotPort, { sni: 'rot.example.com', ca: ca.cert })
    assert.equal(after.status, 200)
    assert.equal(after.peerSerial, serial)
  })
})
