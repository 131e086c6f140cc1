// The stream timeouts and connection lifetime limits over HTTP/2 (ALPN h2 on a terminated HTTPS
// server): an idle stream gets 408 while its session serves on, a slow body gets 408 SI, the
// maxRequestsPerConnection-th stream is followed by GOAWAY and the close, and Expect:
// 100-continue is answered by the gateway after its checks.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2'
import { createCa, issueCertificate } from '../../src/cli/cert-forge.js'
import {
  freePorts,
  gatewayConfigDoc,
  startGateway,
  startUpstream,
  type GatewayProcess,
  type Upstream,
} from './harness/index.js'

const LIMIT = 3

interface H2Reply {
  status: number
  body: string
  sawContinue: boolean
}

function send(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  writeBody?: (stream: ReturnType<ClientHttp2Session['request']>) => void,
): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: writeBody === undefined })
    const timer = setTimeout(() => stream.close(), 20_000)
    let status = 0
    let body = ''
    let sawContinue = false
    stream.setEncoding('utf8')
    stream.on('continue', () => (sawContinue = true))
    stream.on('response', (h) => (status = Number(h[':status'])))
    stream.on('data', (d: string) => (body += d))
    stream.on('close', () => {
      clearTimeout(timer)
      resolve({ status, body, sawContinue })
    })
    stream.on('error', reject)
    writeBody?.(stream)
  })
}

describe('HTTP/2 stream timeouts and connection lifetime (e2e)', () => {
  const ca = createCa('h2 lifetime CA')
  const web = issueCertificate(ca, { hosts: ['web.example.com'] })
  let gw: GatewayProcess
  let up: Upstream
  let port: number
  const sessions: ClientHttp2Session[] = []

  function open(): Promise<ClientHttp2Session> {
    return new Promise((resolve, reject) => {
      const s = connect(`https://web.example.com:${port}`, {
        host: '127.0.0.1',
        servername: 'web.example.com',
        ca: ca.cert,
      } as Parameters<typeof connect>[1])
      s.on('error', () => undefined)
      sessions.push(s)
      s.once('connect', () => resolve(s))
      s.once('error', reject)
    })
  }

  before(async () => {
    const [p, readiness] = await freePorts(2)
    port = p!
    up = await startUpstream({ name: 'echo' })
    const yaml = `${gatewayConfigDoc({
      readinessPort: readiness!,
      extraSpec: [
        '  downstream:',
        '    streamIdleTimeout: 1s',
        '    minRequestBodyRate: 500',
        '    minRequestBodyRateWindow: 1s',
        `    maxRequestsPerConnection: ${LIMIT}`,
      ],
    })}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  servers:
    - port: { number: ${port}, name: https, protocol: HTTPS }
      hosts: [web.example.com]
      tls: { mode: SIMPLE, credentialName: web }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web }
spec:
  hosts: [web.example.com]
  gateways: [edge]
  http:
    - route: [{ destination: { host: echo.test } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: echo }
spec:
  hosts: [echo.test]
  ports: [{ number: ${up.port}, name: http, protocol: HTTP }]
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1 }]
`
    gw = await startGateway({
      yaml,
      files: { 'certs/web/tls.crt': web.cert, 'certs/web/tls.key': web.key },
    })
  })

  after(async () => {
    for (const s of sessions) s.destroy()
    await gw?.cleanup()
    await up?.close()
  })

  test('a stream whose upstream stays silent gets 408; its session serves on', async () => {
    const s = await open()
    const idle = await send(s, { ':path': '/delay/10' })
    assert.equal(idle.status, 408)
    assert.equal(idle.body, 'stream timeout')
    const next = await send(s, { ':path': '/anything' })
    assert.equal(next.status, 200)
  })

  test('a body slower than minRequestBodyRate gets 408', async () => {
    const s = await open()
    let timer: NodeJS.Timeout | undefined
    const reply = await send(
      s,
      { ':method': 'POST', ':path': '/upload', 'content-length': '1048576' },
      (stream) => {
        let sent = 0
        // 5 bytes a second; bounded at 200 bytes whatever happens.
        timer = setInterval(() => {
          if (sent++ >= 200 || stream.closed || stream.destroyed) clearInterval(timer)
          else stream.write('b')
        }, 200)
        stream.once('close', () => clearInterval(timer))
      },
    )
    clearInterval(timer)
    assert.equal(reply.status, 408)
  })

  test('the maxRequestsPerConnection-th stream is followed by GOAWAY and the close', async () => {
    const s = await open()
    let goaway = false
    let closed = false
    s.on('goaway', () => (goaway = true))
    s.on('close', () => (closed = true))
    for (let i = 1; i <= LIMIT; i++) {
      const r = await send(s, { ':path': `/limit/${i}` })
      assert.equal(r.status, 200, `stream ${i}`)
    }
    const deadline = Date.now() + 10_000
    while (!(goaway && closed) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    assert.equal(goaway, true, 'GOAWAY received')
    assert.equal(closed, true, 'the session closed')
  })

  test('Expect: 100-continue is answered by the gateway, then the request is served', async () => {
    const s = await open()
    const reply = await send(
      s,
      { ':method': 'POST', ':path': '/continue', expect: '100-continue' },
      (stream) => stream.once('continue', () => stream.end('payload')),
    )
    assert.equal(reply.sawContinue, true)
    assert.equal(reply.status, 200)
    assert.equal((JSON.parse(reply.body) as { body?: string }).body, 'payload')
  })
})
