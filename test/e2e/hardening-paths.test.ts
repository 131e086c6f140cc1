// Path normalization and the request checks both protocols share, through the listeners of real
// gateway processes (hardening.md §3.4 step 3): every golden vector and the /admin%01…%ff sweep,
// in every pathNormalization mode, over HTTP/1.1 (raw bytes, so no client tidies the path) and
// HTTP/2 (TLS, ALPN h2), into two recording upstreams. Routes: /admin (exact, and the /admin/
// tree) and /secret answered 403 by the gateway, prefix /public to A, everything else to B.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2'
import { createCa, issueCertificate } from '../../src/cli/cert-forge.js'
import type { PathNormalization } from '../../src/lib/index.js'
import { adminEscapeSweep, PATH_VECTORS, type Expected } from '../../src/lib/test-path-vectors.js'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  parseResponses,
  rawRequest,
  startGateway,
  startUpstream,
  type GatewayProcess,
  type Upstream,
} from './harness/index.js'

const HOST = 'paths.test'
const MODES: readonly PathNormalization[] = [
  'BASE',
  'MERGE_SLASHES',
  'DECODE_AND_MERGE_SLASHES',
  'NONE',
]
/** Requests in flight at once per protocol: enough to be quick, few enough for a loaded box. */
const CONCURRENCY = 8

const ca = createCa('paths test CA')
const leaf = issueCertificate(ca, { hosts: [HOST] })

function routeDocs(httpPort: number, httpsPort: number, a: Upstream, b: Upstream): string {
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  servers:
    - port: { number: ${httpPort}, name: http, protocol: HTTP }
      hosts: ['*']
    - port: { number: ${httpsPort}, name: https, protocol: HTTPS }
      hosts: [${HOST}]
      tls: { mode: SIMPLE, credentialName: paths }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: paths }
spec:
  hosts: ['*']
  gateways: [edge]
  http:
    - name: deny
      match: [{ uri: { exact: /admin } }, { uri: { prefix: /admin/ } }, { uri: { exact: /secret } }]
      directResponse: { status: 403 }
    - name: public
      match: [{ uri: { prefix: /public } }]
      route: [{ destination: { host: a.upstream.test } }]
    - name: rest
      route: [{ destination: { host: b.upstream.test } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: a }
spec:
  hosts: [a.upstream.test]
  ports: [{ number: ${a.port}, name: http, protocol: HTTP }]
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1 }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: b }
spec:
  hosts: [b.upstream.test]
  ports: [{ number: ${b.port}, name: http, protocol: HTTP }]
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1 }]
`
}

interface Reply {
  /** 0 when the stream was reset instead of answered. */
  status: number
  /** The HTTP/2 error code of a reset stream. */
  rstCode?: number
  /** An upstream answered (the gateway adds x-envoy-upstream-service-time to proxied replies). */
  viaUpstream: boolean
}

const SERVICE_TIME = 'x-envoy-upstream-service-time'

/** One HTTP/1.1 request written as raw bytes: the target arrives exactly as given. */
async function h1(port: number, target: string, id: string, host = HOST): Promise<Reply> {
  const res = await rawRequest(
    port,
    `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nx-vector: ${id}\r\nConnection: close\r\n\r\n`,
    { timeoutMs: 15_000 },
  )
  const parsed = parseResponses(res.bytes)
  assert.equal(parsed.responses.length, 1, `${target}: ${res.text}`)
  const reply = parsed.responses[0]!
  return {
    status: reply.status,
    viaUpstream: reply.headers.some(([n]) => n.toLowerCase() === SERVICE_TIME),
  }
}

function h2(session: ClientHttp2Session, headers: OutgoingHttpHeaders): Promise<Reply> {
  return new Promise((resolve) => {
    const stream = session.request(headers, { endStream: true })
    const timer = setTimeout(() => stream.close(), 15_000)
    let status = 0
    let viaUpstream = false
    stream.on('response', (h) => {
      status = Number(h[':status'])
      viaUpstream = h[SERVICE_TIME] !== undefined
    })
    stream.resume()
    stream.on('close', () => {
      clearTimeout(timer)
      resolve(
        status === 0 ? { status, rstCode: stream.rstCode, viaUpstream } : { status, viaUpstream },
      )
    })
    // A reset stream: reported through rstCode.
    stream.on('error', () => undefined)
  })
}

/** Refused before routing: 400, or a stream nghttp2 itself reset as malformed (PROTOCOL_ERROR). */
function isRefused(reply: Reply): boolean {
  if (reply.viaUpstream) return false
  return reply.status === 400 || (reply.status === 0 && reply.rstCode === 1)
}

/** Answered by the gateway itself with `status`, nothing from an upstream. */
function assertLocal(reply: Reply, status: number, what: string): void {
  assert.equal(reply.status, status, what)
  assert.ok(!reply.viaUpstream, `${what}: the reply came from an upstream`)
}

/** Runs `work` over `items`, at most CONCURRENCY at a time. */
async function eachLimited<T>(items: readonly T[], work: (item: T) => Promise<void>) {
  let next = 0
  const lanes = Array.from({ length: Math.min(CONCURRENCY, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!)
  })
  await Promise.all(lanes)
}

/** python3 -m http.server's reading of a path: unquote once, then posixpath.normpath. */
function pythonReads(target: string): string {
  const q = target.indexOf('?')
  const path = q < 0 ? target : target.slice(0, q)
  const decoded = path.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  )
  const out: string[] = []
  for (const seg of decoded.split('/')) {
    if (seg === '' || seg === '.') continue
    if (seg === '..') out.pop()
    else out.push(seg)
  }
  return `/${out.join('/')}`
}

function isDenied(path: string): boolean {
  return isAdmin(path.split('?', 1)[0]!) || path.split('?', 1)[0] === '/secret'
}

/** A path (already without its query) that names the admin tree. */
function isAdmin(path: string): boolean {
  return path === '/admin' || path.startsWith('/admin/')
}

/** What a mode leaves open on purpose (docs/path-normalization.md): escaped slashes, and `//` in BASE. */
function isOpenByDesign(input: string, received: string, mode: PathNormalization): boolean {
  if (mode === 'NONE') return true
  if (mode === 'DECODE_AND_MERGE_SLASHES') return false
  return /%(2f|5c)/i.test(input) || (mode === 'BASE' && received.includes('//'))
}

interface Gateway {
  readonly mode: PathNormalization
  readonly httpPort: number
  readonly httpsPort: number
  readonly a: Upstream
  readonly b: Upstream
  readonly process: GatewayProcess
  session?: ClientHttp2Session
}

const VECTORS: { input: string; expected: Record<PathNormalization, Expected> }[] = [
  ...PATH_VECTORS.map((v) => ({ input: v.input, expected: v })),
  ...adminEscapeSweep(),
]

describe('path normalization and shared request checks through real listeners (e2e)', () => {
  const gateways: Gateway[] = []

  before(async () => {
    await Promise.all(
      MODES.map(async (mode) => {
        const [httpPort, httpsPort, readiness] = await freePorts(3)
        const a = await startUpstream({ name: 'A' })
        const b = await startUpstream({ name: 'B' })
        const extraSpec =
          mode === 'BASE' ? [] : ['  pathNormalization:', `    normalization: ${mode}`]
        const process = await startGateway({
          yaml: joinDocs(
            gatewayConfigDoc({ readinessPort: readiness!, accessLog: false, extraSpec }),
            routeDocs(httpPort!, httpsPort!, a, b),
          ),
          files: { 'certs/paths/tls.crt': leaf.cert, 'certs/paths/tls.key': leaf.key },
          readyTimeoutMs: 60_000,
        })
        gateways.push({ mode, httpPort: httpPort!, httpsPort: httpsPort!, a, b, process })
      }),
    )
  })

  after(async () => {
    for (const g of gateways) {
      g.session?.destroy()
      await g.process.cleanup()
      await g.a.close()
      await g.b.close()
    }
  })

  function gateway(mode: PathNormalization): Gateway {
    const g = gateways.find((x) => x.mode === mode)
    assert.ok(g, `gateway for ${mode}`)
    return g
  }

  function session(g: Gateway): Promise<ClientHttp2Session> {
    if (g.session !== undefined && !g.session.destroyed) return Promise.resolve(g.session)
    return new Promise((resolve, reject) => {
      const s = connect(`https://${HOST}:${g.httpsPort}`, {
        host: '127.0.0.1',
        servername: HOST,
        ca: ca.cert,
      } as Parameters<typeof connect>[1])
      g.session = s
      s.once('connect', () => {
        assert.equal(s.alpnProtocol, 'h2')
        resolve(s)
      })
      s.once('error', reject)
    })
  }

  /** Where the request tagged `id` arrived, if anywhere. */
  function arrival(g: Gateway, id: string): { upstream: 'A' | 'B'; url: string } | undefined {
    for (const [name, up] of [
      ['A', g.a],
      ['B', g.b],
    ] as const) {
      const seen = up.requests.find((r) => r.headers['x-vector'] === id)
      if (seen !== undefined) return { upstream: name, url: seen.url }
    }
    return undefined
  }

  /** The reply and the arrival must be what the golden table says this mode makes of `input`. */
  function check(g: Gateway, input: string, expected: Expected, reply: Reply, id: string): void {
    const where = `${g.mode} ${id} ${JSON.stringify(input)}`
    const arrived = arrival(g, id)
    if (expected === 400) {
      assertLocal(reply, 400, where)
      assert.equal(arrived, undefined, `${where}: refused, yet it reached ${arrived?.upstream}`)
      return
    }
    if (isDenied(expected)) {
      assertLocal(reply, 403, where)
      assert.equal(arrived, undefined, `${where}: denied, yet it reached ${arrived?.upstream}`)
      return
    }
    assert.equal(reply.status, 200, where)
    assert.ok(arrived, `${where}: reached no upstream`)
    assert.equal(arrived.upstream, expected.startsWith('/public') ? 'A' : 'B', where)
    assert.equal(arrived.url, expected, `${where}: the path the upstream received`)
    if (!isOpenByDesign(input, arrived.url, g.mode)) {
      assert.ok(!isAdmin(pythonReads(arrived.url)), `${where}: a decoding backend reads /admin`)
    }
  }

  for (const mode of MODES) {
    test(`${mode}: every vector over HTTP/1.1`, async () => {
      const g = gateway(mode)
      await eachLimited(
        VECTORS.map((v, i) => ({ ...v, id: `h1-${i}` })),
        async (v) => {
          const reply = await h1(g.httpPort, v.input, v.id)
          check(g, v.input, v.expected[mode], reply, v.id)
        },
      )
    })

    test(`${mode}: every vector over HTTP/2`, async () => {
      const g = gateway(mode)
      const s = await session(g)
      await eachLimited(
        VECTORS.map((v, i) => ({ ...v, id: `h2-${i}` })),
        async (v) => {
          const reply = await h2(s, { ':path': v.input, ':authority': HOST, 'x-vector': v.id })
          check(g, v.input, v.expected[mode], reply, v.id)
        },
      )
    })
  }

  test('the vectors that reached an admin page before: none reaches an upstream in DECODE_AND_MERGE_SLASHES, and in BASE only the two Istio leaves open', async () => {
    const reached = [
      '/public/../admin/',
      '/public/%2e%2e/admin/',
      '/public/..%2fadmin/',
      '/public;/../admin/',
      '/public/%2e%2e/%61dmin/',
      '/x/../admin',
      '/./admin',
      '/%61dmin',
      '//admin',
    ]
    for (const mode of ['DECODE_AND_MERGE_SLASHES', 'BASE'] as const) {
      const g = gateway(mode)
      const through: string[] = []
      for (const [i, input] of reached.entries()) {
        const id = `issue-${mode}-${i}`
        const reply = await h1(g.httpPort, input, id)
        if (reply.status !== 403) through.push(`${input} → ${arrival(g, id)?.url ?? reply.status}`)
      }
      assert.deepEqual(
        through,
        mode === 'BASE' ? ['/public/..%2fadmin/ → /public/..%2fadmin/', '//admin → //admin'] : [],
      )
    }
  })

  describe('HTTP/2 gets the checks HTTP/1.1 gets', () => {
    test('a fragment is 400 on both, and never skips the exact /secret rule', async () => {
      const g = gateway('BASE')
      assertLocal(await h1(g.httpPort, '/secret#x', 'frag-1'), 400, 'HTTP/1.1 fragment')
      const s = await session(g)
      assertLocal(await h2(s, { ':path': '/secret#x', 'x-vector': 'frag-2' }), 400, 'h2 fragment')
      assertLocal(await h2(s, { ':path': '/secret', 'x-vector': 'frag-3' }), 403, 'h2 /secret')
      for (const id of ['frag-1', 'frag-2', 'frag-3']) assert.equal(arrival(g, id), undefined)
    })

    test('raw non-ASCII and control bytes in :path are 400, nothing forwarded', async () => {
      const g = gateway('BASE')
      const s = await session(g)
      // nghttp2 passes non-ASCII bytes; the shared check refuses them as a request line's.
      assertLocal(await h2(s, { ':path': '/caf\u00e9', 'x-vector': 'bytes-0' }), 400, 'non-ASCII')
      for (const [i, path] of ['/a\u0001b', '/a\u007fb', '/a b'].entries()) {
        const id = `bytes-${i + 1}`
        assert.ok(isRefused(await h2(s, { ':path': path, 'x-vector': id })), JSON.stringify(path))
      }
      for (let i = 0; i < 4; i++) assert.equal(arrival(g, `bytes-${i}`), undefined)
    })

    test('Host: a b is 400 on both protocols', async () => {
      const g = gateway('BASE')
      assertLocal(await h1(g.httpPort, '/x', 'host-1', 'a b'), 400, 'HTTP/1.1 Host: a b')
      const s = await session(g)
      // Node's client sends a lone host header as :authority: nghttp2 or the shared check refuses it.
      assert.ok(isRefused(await h2(s, { ':path': '/x', host: 'a b', 'x-vector': 'h' })))
      assert.equal(arrival(g, 'host-1'), undefined)
      assert.equal(arrival(g, 'h'), undefined)
    })

    test('414 above downstream.maxUriBytes (8 KiB) on both; 8 KiB exactly is served', async () => {
      const g = gateway('BASE')
      const s = await session(g)
      const fits = `/p${'a'.repeat(8190)}`
      assert.equal(fits.length, 8192)
      assert.equal((await h1(g.httpPort, fits, 'uri-1')).status, 200)
      assert.equal((await h2(s, { ':path': fits, 'x-vector': 'uri-2' })).status, 200)
      for (const size of [9 * 1024, 17 * 1024]) {
        const long = `/p${'a'.repeat(size)}`
        assertLocal(await h1(g.httpPort, long, `uri-h1-${size}`), 414, `${size} h1`)
        assertLocal(await h2(s, { ':path': long, 'x-vector': `uri-h2-${size}` }), 414, `${size} h2`)
        assert.equal(arrival(g, `uri-h1-${size}`), undefined)
        assert.equal(arrival(g, `uri-h2-${size}`), undefined)
      }
    })

    test('more than 16 KiB of header fields is 431 on both', async () => {
      const g = gateway('BASE')
      const big = 'v'.repeat(17 * 1024)
      const res = await rawRequest(
        g.httpPort,
        `GET /x HTTP/1.1\r\nHost: ${HOST}\r\nx-big: ${big}\r\nConnection: close\r\n\r\n`,
        { timeoutMs: 15_000 },
      )
      const reply = parseResponses(res.bytes).responses[0]
      assert.equal(reply?.status, 431)
      assert.ok(!reply.headers.some(([n]) => n.toLowerCase() === SERVICE_TIME), 'from an upstream')
      const s = await session(g)
      assertLocal(await h2(s, { ':path': '/x', 'x-big': big, 'x-vector': 'big' }), 431, 'h2 431')
      assert.equal(arrival(g, 'big'), undefined)
    })
  })
})
