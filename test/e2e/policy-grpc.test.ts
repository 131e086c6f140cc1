// HTTP/2 and gRPC to upstreams through the real gateway process: a node:http2 upstream (h2c)
// answering a unary and a server-streaming gRPC-style call, seen by an HTTP/2 client over TLS
// (ALPN h2) and by an HTTP/1.1 client reading chunked trailers; messages of a stream arrive one
// by one; streams reset before headers (REFUSED_STREAM: 503 UF, retried; PROTOCOL_ERROR, or an
// upstream that does not speak HTTP/2: 502 UPE; other codes: 503 UC);
// h2 over TLS with ALPN to an HTTPS upstream; maxConcurrentStreams bounding streams per session.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  connect,
  constants as h2,
  createSecureServer,
  createServer,
  type ClientHttp2Session,
  type Http2SecureServer,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2'
import { createServer as createHttp1Server, type Server as Http1Server } from 'node:http'
import { TLSSocket } from 'node:tls'
import { Agent, request as undiciRequest } from 'undici'
import { createCa, issueCertificate } from '../../src/cli/cert-forge.js'
import { freePorts, gatewayConfigDoc, joinDocs, startGateway } from './harness/index.js'
import type { GatewayProcess } from './harness/index.js'

const LOG_TIMEOUT_MS = 10_000
const UPSTREAM_NAME = 'backend.upstream.test'

/** A gRPC message: 1 byte compressed flag, 4 bytes big-endian length, the payload. */
function frame(payload: string): Buffer {
  const body = Buffer.from(payload)
  const out = Buffer.alloc(5 + body.length)
  out.writeUInt32BE(body.length, 1)
  body.copy(out, 5)
  return out
}

/** Splits length-prefixed messages off `buf`; returns the payloads and what is left over. */
function unframe(buf: Buffer): { messages: string[]; rest: Buffer } {
  const messages: string[] = []
  let at = 0
  while (buf.length - at >= 5) {
    const length = buf.readUInt32BE(at + 1)
    if (buf.length - at - 5 < length) break
    messages.push(buf.subarray(at + 5, at + 5 + length).toString())
    at += 5 + length
  }
  return { messages, rest: buf.subarray(at) }
}

interface GrpcUpstream {
  readonly port: number
  /** Requests per path, with the headers they arrived with. */
  readonly seen: { path: string; headers: IncomingHttpHeaders; tls: boolean }[]
  /** Streams of /slow in flight per session, at their highest. */
  readonly maxStreamsPerSession: () => number
  readonly sessions: () => number
  /** Lets the server-streaming call send its next message. */
  release(): void
  close(): Promise<void>
}

/** The gRPC-style service: Unary echoes, Stream sends 3 messages on release(), Fail errors. */
async function startGrpcUpstream(tls?: { cert: string; key: string }): Promise<GrpcUpstream> {
  const server: Http2Server | Http2SecureServer =
    tls === undefined ? createServer() : createSecureServer({ cert: tls.cert, key: tls.key })
  const seen: GrpcUpstream['seen'] = []
  const active = new Map<Http2Session, number>()
  let sessionsOpened = 0
  let highest = 0
  let releases: (() => void)[] = []
  let released = 0
  const nextRelease = (): Promise<void> =>
    new Promise((resolve) => {
      if (released > 0) {
        released--
        resolve()
      } else releases.push(resolve)
    })
  const open = new Set<Http2Session>()
  server.on('session', (s: Http2Session) => {
    sessionsOpened++
    open.add(s)
    s.once('close', () => open.delete(s))
  })
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    stream.on('error', () => {})
    const path = String(headers[':path'])
    seen.push({ path, headers, tls: stream.session?.socket instanceof TLSSocket })
    const session = stream.session!
    if (path === '/slow') {
      const now = (active.get(session) ?? 0) + 1
      active.set(session, now)
      highest = Math.max(highest, now)
      stream.once('close', () => active.set(session, (active.get(session) ?? 1) - 1))
    }
    const grpc = { ':status': 200, 'content-type': 'application/grpc' }
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.once('end', () => {
      const input = unframe(Buffer.concat(chunks)).messages
      if (path === '/refuse') {
        stream.close(h2.NGHTTP2_REFUSED_STREAM)
      } else if (path === '/midreset') {
        stream.respond(grpc)
        stream.write(frame('partial'), () => {
          // close(code) would first end the stream cleanly; destroy() resets it (INTERNAL_ERROR).
          setTimeout(() => stream.destroy(new Error('upstream broke off')), 50)
        })
      } else if (path === '/reset') {
        stream.close(h2.NGHTTP2_INTERNAL_ERROR)
      } else if (path === '/protocol-error') {
        stream.close(h2.NGHTTP2_PROTOCOL_ERROR)
      } else if (path === '/slow') {
        setTimeout(() => {
          if (!stream.destroyed) stream.respond({ ':status': 200 }, { endStream: true })
        }, 300)
      } else if (path === '/test.Echo/Unary') {
        stream.respond(grpc, { waitForTrailers: true })
        stream.once('wantTrailers', () =>
          stream.sendTrailers({ 'grpc-status': '0', 'x-trailer': 'unary' }),
        )
        stream.end(frame(`echo:${input.join(',')}`))
      } else if (path === '/test.Echo/Stream') {
        stream.respond(grpc, { waitForTrailers: true })
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
        void (async () => {
          for (let i = 1; i <= 3; i++) {
            if (i > 1) await nextRelease()
            if (stream.destroyed) return
            stream.write(frame(`message ${i}`))
          }
          stream.end()
        })()
      } else if (path === '/test.Echo/Fail') {
        stream.respond(grpc, { waitForTrailers: true })
        stream.once('wantTrailers', () =>
          stream.sendTrailers({ 'grpc-status': '5', 'grpc-message': 'no such thing' }),
        )
        stream.end()
      } else {
        stream.respond({ ':status': 200, 'content-type': 'text/plain' })
        stream.end(`h2 ${path}`)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  assert.ok(address !== null && typeof address === 'object')
  return {
    port: address.port,
    seen,
    maxStreamsPerSession: () => highest,
    sessions: () => sessionsOpened,
    release() {
      const r = releases.shift()
      if (r !== undefined) r()
      else released++
    },
    close: () =>
      new Promise<void>((resolve) => {
        releases = []
        server.close(() => resolve())
        // Sessions the gateway keeps open would hold close() forever.
        for (const s of open) s.destroy()
      }),
  }
}

interface Service {
  name: string
  port: number
  protocol: string
  trafficPolicy?: string[]
}

function docs(httpPort: number, httpsPort: number, services: Service[]): string {
  const out = [
    `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  servers:
    - port: { number: ${httpPort}, name: http, protocol: HTTP }
      hosts: ["*"]
    - port: { number: ${httpsPort}, name: https, protocol: HTTPS }
      hosts: ["*"]
      tls: { mode: SIMPLE, credentialName: web }`,
  ]
  for (const s of services) {
    out.push(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${s.name}
spec:
  hosts: [${s.name}.test]
  gateways: [gw]
  http:
    - route:
        - destination: { host: ${s.name}.svc.test, port: { number: 80 } }`)
    out.push(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${s.name}
spec:
  hosts: [${s.name}.svc.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
    - { number: 80, name: p, protocol: ${s.protocol} }
  endpoints:
    - { address: 127.0.0.1, ports: { p: ${s.port} } }`)
    if (s.trafficPolicy !== undefined) {
      out.push(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ${s.name}
spec:
  host: ${s.name}.svc.test
  trafficPolicy:
${s.trafficPolicy.map((l) => `    ${l}`).join('\n')}`)
    }
  }
  return joinDocs(...out)
}

interface H2Call {
  status: number
  headers: IncomingHttpHeaders
  trailers: IncomingHttpHeaders
  messages: string[]
  text: string
}

describe('HTTP/2 and gRPC upstreams (real gateway process)', () => {
  const ca = createCa('grpc test CA')
  const web = issueCertificate(ca, { hosts: ['grpc.test', 'client.test'] })
  const upstreamPem = issueCertificate(ca, { hosts: [UPSTREAM_NAME] })
  let gw: GatewayProcess
  let grpc: GrpcUpstream
  let secure: GrpcUpstream
  let http1Only: Http1Server
  let httpPort = 0
  let httpsPort = 0
  const sessions: ClientHttp2Session[] = []
  const agent = new Agent({ connections: 16 })

  before(async () => {
    grpc = await startGrpcUpstream()
    secure = await startGrpcUpstream(upstreamPem)
    // A cluster declared HTTP2 whose endpoint only speaks HTTP/1.1.
    http1Only = createHttp1Server((_req, res) => res.end('http/1.1'))
    await new Promise<void>((resolve) => http1Only.listen(0, '127.0.0.1', resolve))
    const http1OnlyAddress = http1Only.address()
    assert.ok(http1OnlyAddress !== null && typeof http1OnlyAddress === 'object')
    const [p1, p2, readiness] = await freePorts(3)
    httpPort = p1!
    httpsPort = p2!
    gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({ readinessPort: readiness! }),
        docs(httpPort, httpsPort, [
          { name: 'grpc', port: grpc.port, protocol: 'GRPC' },
          {
            name: 'upgrade',
            port: secure.port,
            protocol: 'HTTP',
            trafficPolicy: [
              'connectionPool: { http: { h2UpgradePolicy: UPGRADE } }',
              `tls: { mode: SIMPLE, caCertificates: upstream-ca.crt, sni: ${UPSTREAM_NAME} }`,
            ],
          },
          { name: 'h1only', port: http1OnlyAddress.port, protocol: 'HTTP2' },
          {
            name: 'streams',
            port: grpc.port,
            protocol: 'HTTP2',
            trafficPolicy: ['connectionPool: { http: { maxConcurrentStreams: 2 } }'],
          },
          {
            name: 'client',
            port: grpc.port,
            protocol: 'HTTP',
            trafficPolicy: ['connectionPool: { http: { useClientProtocol: true } }'],
          },
        ]),
      ),
      files: {
        'certs/web/tls.crt': web.cert,
        'certs/web/tls.key': web.key,
        'upstream-ca.crt': ca.cert,
      },
    })
  })

  after(async () => {
    for (const s of sessions) s.destroy()
    await agent.close()
    await gw?.cleanup()
    await grpc?.close()
    await secure?.close()
    http1Only?.closeAllConnections()
    await new Promise((resolve) => (http1Only ? http1Only.close(resolve) : resolve(undefined)))
  })

  function open(): Promise<ClientHttp2Session> {
    return new Promise((resolve, reject) => {
      const s = connect(`https://grpc.test:${httpsPort}`, {
        host: '127.0.0.1',
        servername: 'grpc.test',
        ca: ca.cert,
      } as Parameters<typeof connect>[1])
      sessions.push(s)
      s.once('connect', () => resolve(s))
      s.once('error', reject)
    })
  }

  /** One call over HTTP/2; `onMessage` sees each message as it arrives. */
  function call(
    s: ClientHttp2Session,
    headers: OutgoingHttpHeaders,
    body?: Buffer,
    onMessage?: (m: string) => void,
  ): Promise<H2Call> {
    return new Promise((resolve, reject) => {
      const stream = s.request(
        { ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers', ...headers },
        { endStream: body === undefined },
      )
      const timer = setTimeout(() => stream.close(), 10_000)
      const out: H2Call = { status: 0, headers: {}, trailers: {}, messages: [], text: '' }
      let buf: Buffer = Buffer.alloc(0)
      stream.on('response', (h) => {
        out.status = Number(h[':status'])
        out.headers = h
      })
      stream.on('trailers', (t: IncomingHttpHeaders) => {
        out.trailers = t
      })
      stream.on('data', (d: Buffer) => {
        out.text += d.toString()
        const { messages, rest } = unframe(Buffer.concat([buf, d]))
        buf = rest
        for (const m of messages) {
          out.messages.push(m)
          onMessage?.(m)
        }
      })
      stream.on('close', () => {
        clearTimeout(timer)
        resolve(out)
      })
      stream.on('error', reject)
      if (body !== undefined) stream.end(body)
    })
  }

  const logLine = (id: string): Promise<string> =>
    gw.waitForLine(new RegExp(`"${id}"`), LOG_TIMEOUT_MS, { stream: 'stdout' })

  test('unary call from an HTTP/2 client: message, status and trailers', async () => {
    const s = await open()
    assert.equal(s.alpnProtocol, 'h2')
    const r = await call(
      s,
      { ':path': '/test.Echo/Unary', ':authority': 'grpc.test', 'x-request-id': 'grpc-unary' },
      frame('hello'),
    )
    assert.equal(r.status, 200)
    assert.equal(r.headers['content-type'], 'application/grpc')
    assert.deepEqual(r.messages, ['echo:hello'])
    assert.equal(r.trailers['grpc-status'], '0')
    assert.equal(r.trailers['x-trailer'], 'unary')
    const seen = grpc.seen.find((x) => x.headers['x-request-id'] === 'grpc-unary')
    assert.ok(seen !== undefined)
    assert.equal(seen.headers['te'], 'trailers')
    assert.equal(seen.headers[':authority'], 'grpc.test')
    assert.equal(seen.headers['connection'], undefined)
    assert.match(await logLine('grpc-unary'), /" 200 - via_upstream /)
  })

  test('server streaming: each message arrives before the next is sent', async () => {
    const s = await open()
    const arrived: string[] = []
    const r = await call(
      s,
      { ':path': '/test.Echo/Stream', ':authority': 'grpc.test' },
      frame(''),
      (m) => {
        arrived.push(m)
        // The upstream sends the next message only now: a buffered response would never finish.
        grpc.release()
      },
    )
    assert.equal(r.status, 200)
    assert.deepEqual(arrived, ['message 1', 'message 2', 'message 3'])
    assert.equal(r.trailers['grpc-status'], '0')
  })

  test('an error status arrives in trailers with grpc-message', async () => {
    const s = await open()
    const r = await call(s, { ':path': '/test.Echo/Fail', ':authority': 'grpc.test' }, frame(''))
    assert.equal(r.status, 200)
    assert.deepEqual(r.messages, [])
    assert.equal(r.trailers['grpc-status'], '5')
    assert.equal(r.trailers['grpc-message'], 'no such thing')
  })

  test('an HTTP/1.1 client gets the status as chunked trailers, announced in Trailer', async () => {
    const res = await undiciRequest(`http://127.0.0.1:${httpPort}/test.Echo/Fail`, {
      method: 'POST',
      headers: { host: 'grpc.test', 'content-type': 'application/grpc', te: 'trailers' },
      body: frame(''),
      dispatcher: agent,
    })
    await res.body.arrayBuffer()
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['trailer'], 'grpc-status, grpc-message')
    assert.equal(res.trailers['grpc-status'], '5')
    assert.equal(res.trailers['grpc-message'], 'no such thing')
    const unary = await undiciRequest(`http://127.0.0.1:${httpPort}/test.Echo/Unary`, {
      method: 'POST',
      headers: { host: 'grpc.test', 'content-type': 'application/grpc' },
      body: frame('h1'),
      dispatcher: agent,
    })
    const body = Buffer.from(await unary.body.arrayBuffer())
    assert.deepEqual(unframe(body).messages, ['echo:h1'])
    assert.equal(unary.trailers['grpc-status'], '0')
  })

  test('REFUSED_STREAM before headers: retried by default, then 503 UF,URX', async () => {
    const before = grpc.seen.filter((x) => x.path === '/refuse').length
    const res = await undiciRequest(`http://127.0.0.1:${httpPort}/refuse`, {
      headers: { host: 'grpc.test', 'x-request-id': 'h2-refused' },
      dispatcher: agent,
    })
    const text = await res.body.text()
    assert.equal(res.statusCode, 503)
    assert.match(text, /reset reason: remote refused stream reset/)
    // Istio's default retryOn includes refused-stream: 1 + 2 attempts.
    assert.equal(grpc.seen.filter((x) => x.path === '/refuse').length - before, 3)
    assert.match(await logLine('h2-refused'), /" 503 UF,URX /)
  })

  test('another reset before headers: 503 UC, not retried by default', async () => {
    const res = await undiciRequest(`http://127.0.0.1:${httpPort}/reset`, {
      headers: { host: 'grpc.test', 'x-request-id': 'h2-reset' },
      dispatcher: agent,
    })
    const text = await res.body.text()
    assert.equal(res.statusCode, 503)
    assert.match(text, /reset reason: connection termination/)
    assert.match(await logLine('h2-reset'), /" 503 UC /)
  })

  test('PROTOCOL_ERROR before headers: 502 UPE "protocol error", not retried by default', async () => {
    const before = grpc.seen.filter((x) => x.path === '/protocol-error').length
    const res = await undiciRequest(`http://127.0.0.1:${httpPort}/protocol-error`, {
      headers: { host: 'grpc.test', 'x-request-id': 'h2-protocol-error' },
      dispatcher: agent,
    })
    const text = await res.body.text()
    assert.equal(res.statusCode, 502)
    assert.match(text, /reset reason: protocol error/)
    assert.equal(grpc.seen.filter((x) => x.path === '/protocol-error').length - before, 1)
    assert.match(
      await logLine('h2-protocol-error'),
      /" 502 UPE upstream_reset_before_response_started\{protocol_error\} /,
    )
  })

  test('an HTTP2 cluster whose endpoint answers HTTP/1.1: 502 UPE', async () => {
    const res = await undiciRequest(`http://127.0.0.1:${httpPort}/`, {
      headers: { host: 'h1only.test', 'x-request-id': 'h2-not-h2' },
      dispatcher: agent,
    })
    const text = await res.body.text()
    assert.equal(res.statusCode, 502)
    assert.match(text, /reset reason: protocol error/)
    assert.match(await logLine('h2-not-h2'), /" 502 UPE upstream_reset_before_response_started/)
  })

  test('a reset after headers: the HTTP/1.1 client sees a truncated response, flag UC', async () => {
    const res = await undiciRequest(`http://127.0.0.1:${httpPort}/midreset`, {
      headers: { host: 'grpc.test', 'x-request-id': 'h2-midreset' },
      dispatcher: agent,
    })
    assert.equal(res.statusCode, 200)
    await assert.rejects(res.body.arrayBuffer())
    assert.match(await logLine('h2-midreset'), /" 200 UC /)
  })

  test('h2UpgradePolicy UPGRADE with TLS origination: h2 over TLS with ALPN', async () => {
    const res = await undiciRequest(`http://127.0.0.1:${httpPort}/over-tls`, {
      headers: { host: 'upgrade.test' },
      dispatcher: agent,
    })
    assert.equal(res.statusCode, 200)
    assert.equal(await res.body.text(), 'h2 /over-tls')
    const seen = secure.seen.find((x) => x.path === '/over-tls')
    assert.ok(seen !== undefined)
    assert.equal(seen.tls, true)
    assert.equal(seen.headers[':scheme'], 'https')
  })

  test('maxConcurrentStreams: 2 with 5 concurrent requests: at most 2 streams per session', async () => {
    const sessionsBefore = grpc.sessions()
    const replies = await Promise.all(
      Array.from({ length: 5 }, () =>
        undiciRequest(`http://127.0.0.1:${httpPort}/slow`, {
          headers: { host: 'streams.test' },
          dispatcher: agent,
        }).then(async (r) => {
          await r.body.text()
          return r.statusCode
        }),
      ),
    )
    assert.deepEqual(replies, [200, 200, 200, 200, 200])
    assert.ok(grpc.maxStreamsPerSession() <= 2, `saw ${grpc.maxStreamsPerSession()} streams`)
    assert.ok(grpc.sessions() - sessionsBefore >= 3)
  })

  test('useClientProtocol: HTTP/1.1 stays HTTP/1.1 (the upstream speaks only h2)', async () => {
    const s = await open()
    const viaH2 = await call(s, {
      ':method': 'GET',
      ':path': '/client',
      ':authority': 'client.test',
    })
    assert.equal(viaH2.status, 200)
    assert.equal(viaH2.text, 'h2 /client')
    const viaH1 = await undiciRequest(`http://127.0.0.1:${httpPort}/client`, {
      headers: { host: 'client.test', 'x-request-id': 'client-h1' },
      dispatcher: agent,
    })
    await viaH1.body.text()
    // An HTTP/1.1 request to an h2-only server cannot be answered: its HTTP/2 frames are not an
    // HTTP/1.1 response (502 UPE, as in Envoy).
    assert.equal(viaH1.statusCode, 502)
    assert.match(await logLine('client-h1'), /" 502 UPE /)
  })
})
