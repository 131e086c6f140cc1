// HTTP/2 downstream through the real gateway process: ALPN h2 on a terminated HTTPS server, the
// same route table as HTTP/1.1, proxied to an HTTP/1.1 upstream; the §1.3 settings; :authority
// against host; pseudo-headers and connection-specific headers never forwarded; GOAWAY on drain.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawnSync } from 'node:child_process'
import { promisify } from 'node:util'
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

interface H2Reply {
  status: number
  body: string
}

function request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string) {
  return new Promise<H2Reply>((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined })
    const timer = setTimeout(() => stream.close(), 5000)
    let status = 0
    let data = ''
    stream.setEncoding('utf8')
    stream.on('response', (h) => (status = Number(h[':status'])))
    stream.on('data', (d: string) => (data += d))
    stream.on('close', () => {
      clearTimeout(timer)
      resolve({ status, body: data })
    })
    stream.on('error', reject)
    if (body !== undefined) stream.end(body)
  })
}

describe('HTTP/2 via ALPN (e2e)', () => {
  const ca = createCa('h2 test CA')
  const web = issueCertificate(ca, { hosts: ['web.example.com', 'other.example.com'] })
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
      sessions.push(s)
      s.once('connect', () => resolve(s))
      s.once('error', reject)
    })
  }

  before(async () => {
    const [p, readiness] = await freePorts(2)
    port = p!
    up = await startUpstream({ name: 'echo' })
    const yaml = `${gatewayConfigDoc({ readinessPort: readiness! })}---
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
    - match: [{ uri: { prefix: /missing } }]
      directResponse: { status: 404 }
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
      files: {
        'certs/web/tls.crt': web.cert,
        'certs/web/tls.key': web.key,
        // Not read for SIMPLE; curl trusts it.
        'certs/web/ca.crt': ca.cert,
      },
    })
  })

  after(async () => {
    for (const s of sessions) s.destroy()
    await gw?.cleanup()
    await up?.close()
  })

  test('h2 is negotiated and served from the route table, proxied to HTTP/1.1', async () => {
    const s = await open()
    assert.equal(s.alpnProtocol, 'h2')
    const r = await request(s, { ':path': '/anything?q=1', 'x-demo': 'yes' })
    assert.equal(r.status, 200)
    const rec = JSON.parse(r.body) as { url: string; headers: Record<string, string> }
    assert.equal(rec.url, '/anything?q=1')
    assert.match(rec.headers['host'] ?? '', /^web\.example\.com(:\d+)?$/)
    assert.equal(rec.headers['x-demo'], 'yes')
    assert.equal(rec.headers['x-forwarded-proto'], 'https')
    for (const name of Object.keys(rec.headers)) assert.ok(!name.startsWith(':'), name)
    const local = await request(s, { ':path': '/missing' })
    assert.equal(local.status, 404)
  })

  test('request bodies and many concurrent streams on one session', async () => {
    const s = await open()
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        request(s, { ':method': 'POST', ':path': `/post/${i}` }, `body-${i}`),
      ),
    )
    replies.forEach((r, i) => {
      assert.equal(r.status, 200)
      const rec = JSON.parse(r.body) as { path: string; body: string }
      assert.equal(rec.path, `/post/${i}`)
      assert.equal(rec.body, `body-${i}`)
    })
  })

  test('settings: at most 100 concurrent streams', async () => {
    const s = await open()
    if (
      s.remoteSettings.maxConcurrentStreams === undefined ||
      s.remoteSettings.maxConcurrentStreams > 1e9
    ) {
      await new Promise((r) => s.once('remoteSettings', r))
    }
    assert.equal(s.remoteSettings.maxConcurrentStreams, 100)
  })

  test(':authority and host that differ: 400; a host of another server: 421', async () => {
    const s = await open()
    const mismatch = await request(s, {
      ':path': '/',
      ':authority': 'web.example.com',
      host: 'other.example.com',
    })
    assert.equal(mismatch.status, 400)
    // The session survives a refused stream.
    const ok = await request(s, { ':path': '/headers' })
    assert.equal(ok.status, 200)
    const misdirected = await request(s, { ':path': '/', ':authority': 'other.example.com' })
    assert.equal(misdirected.status, 421)
  })

  test('te: trailers and connection-specific headers are not forwarded', async () => {
    const s = await open()
    const r = await request(s, { ':path': '/headers', te: 'trailers', 'x-keep': '1' })
    assert.equal(r.status, 200)
    const { headers } = JSON.parse(r.body) as { headers: Record<string, string> }
    assert.equal(headers['te'], undefined)
    assert.equal(headers['x-keep'], '1')
  })

  test(
    'curl --http2 negotiates h2',
    { skip: !hasCurlHttp2() && 'curl without HTTP/2' },
    async () => {
      // Async: the upstream runs in this process.
      const res = await promisify(execFile)(
        'curl',
        [
          '-s',
          '--http2',
          '--cacert',
          `${gw.dir}/certs/web/ca.crt`,
          '--resolve',
          `web.example.com:${port}:127.0.0.1`,
          '-o',
          '/dev/null',
          '-w',
          '%{http_version} %{http_code}',
          `https://web.example.com:${port}/headers`,
        ],
        { encoding: 'utf8', timeout: 10_000 },
      )
      assert.equal(res.stdout, '2 200')
    },
  )

  test('drain sends GOAWAY and lets the open stream finish', async () => {
    const s = await open()
    const goaway = new Promise<boolean>((resolve) => {
      s.once('goaway', () => resolve(true))
      setTimeout(() => resolve(false), 8000).unref()
    })
    const slow = request(s, { ':path': '/delay/1' })
    await new Promise((r) => setTimeout(r, 200))
    const stopped = gw.stop('SIGTERM', 15_000)
    assert.equal(await goaway, true)
    assert.equal((await slow).status, 200)
    await stopped
  })
})

function hasCurlHttp2(): boolean {
  const res = spawnSync('curl', ['--version'], { encoding: 'utf8' })
  return res.status === 0 && / HTTP2( |$)/m.test(res.stdout)
}
