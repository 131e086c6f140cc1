// Edge hardening of the real gateway process, probed with raw sockets (hardening.md §1.5, §2.3):
// what Node's parser would let through is refused before any byte reaches the upstream.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  parseResponses,
  proxyRouteDocs,
  rawRequest,
  startGateway,
  startRawUpstream,
  startUpstream,
} from './harness/index.js'
import type { GatewayProcess, ParsedResponse, RawUpstream, Upstream } from './harness/index.js'

const HEADERS_TIMEOUT_MS = 1000
// Node checks header deadlines once per connectionsCheckingInterval (1 s in the gateway), and a
// busy machine adds scheduling delay; the margin is generous on purpose.
const TIMEOUT_MARGIN_MS = 4000

function header(res: ParsedResponse, name: string): string | undefined {
  return res.headers.find(([n]) => n.toLowerCase() === name)?.[1]
}

function manyHeaders(count: number): string {
  let out = ''
  for (let i = 0; i < count; i++) out += `x-h-${i}: v\r\n`
  return out
}

interface Refusal {
  name: string
  bytes: string
  statuses: number[]
}

// Each one ends with a second, well-formed request that must never reach the upstream either:
// if the gateway misread the framing, that is the smuggled request.
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: smuggle.test\r\n\r\n'
const REFUSALS: Refusal[] = [
  {
    name: '101 header fields',
    // Host + 100
    bytes: `GET /many HTTP/1.1\r\nHost: a.test\r\n${manyHeaders(100)}\r\n`,
    statuses: [431],
  },
  {
    name: '17 KiB of headers',
    bytes: `GET /big HTTP/1.1\r\nHost: a.test\r\nx-big: ${'a'.repeat(17 * 1024)}\r\n\r\n`,
    statuses: [431],
  },
  {
    name: 'Transfer-Encoding: identity, chunked',
    bytes:
      'POST /te HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: identity, chunked\r\n\r\n' +
      `0\r\n\r\n${SMUGGLED}`,
    statuses: [400, 501],
  },
  {
    name: 'Content-Length with Transfer-Encoding',
    bytes:
      'POST /clte HTTP/1.1\r\nHost: a.test\r\nContent-Length: 4\r\n' +
      `Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    statuses: [400],
  },
  {
    name: 'duplicate Host',
    bytes: 'GET /dup HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n',
    statuses: [400],
  },
  {
    name: 'underscore in a header name',
    bytes: 'GET /underscore HTTP/1.1\r\nHost: a.test\r\nX_Foo: 1\r\n\r\n',
    statuses: [400],
  },
  {
    name: 'fragment in the request target',
    bytes: 'GET /a#b HTTP/1.1\r\nHost: a.test\r\n\r\n',
    statuses: [400],
  },
  {
    name: 'h2c upgrade',
    bytes:
      'GET /h2c HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade, HTTP2-Settings\r\n' +
      'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
    statuses: [400],
  },
]

describe('gateway edge hardening (raw sockets, real process)', () => {
  let gw: GatewayProcess
  let up: Upstream
  // Behind Host raw.test: records the exact bytes the gateway puts on the wire.
  let raw: RawUpstream
  let port: number

  before(async () => {
    const [gatewayPort, readinessPort] = await freePorts(2)
    port = gatewayPort!
    up = await startUpstream({ name: 'guarded' })
    raw = await startRawUpstream()
    gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({ readinessPort: readinessPort!, accessLog: false }) +
          `  downstream:\n    headersTimeout: ${HEADERS_TIMEOUT_MS}ms\n`,
        proxyRouteDocs({ gatewayPort: port, upstreamPort: up.port }),
        proxyRouteDocs({
          name: 'raw',
          hosts: ['raw.test'],
          gatewayPort: port,
          upstreamPort: raw.port,
        }),
      ),
    })
  })
  after(async () => {
    await gw?.cleanup()
    await up?.close()
    await raw?.close()
  })

  for (const refusal of REFUSALS) {
    test(`${refusal.name}: refused with ${refusal.statuses.join('/')} and closed`, async () => {
      up.reset()
      const res = await rawRequest(port, refusal.bytes, { timeoutMs: 5000 })
      const parsed = parseResponses(res.bytes)
      assert.equal(parsed.responses.length, 1, res.text)
      const reply = parsed.responses[0]!
      assert.ok(refusal.statuses.includes(reply.status), `status ${reply.status}`)
      assert.equal(header(reply, 'connection'), 'close')
      assert.ok(res.isClosedByPeer, 'the gateway must close the connection')
      assert.equal(up.requests.length, 0, 'nothing may reach the upstream')
      assert.equal(up.connections, 0, 'the upstream must not even be connected to')
      assert.equal(raw.connections.length, 0)
    })
  }

  test('the limits are exact: 100 header fields and 15 KiB of headers are accepted', async () => {
    up.reset()
    // Host + 98 + Connection: exactly 100 fields.
    const many = await rawRequest(
      port,
      `GET /ok-many HTTP/1.1\r\nHost: a.test\r\n${manyHeaders(98)}Connection: close\r\n\r\n`,
      { timeoutMs: 5000 },
    )
    assert.deepEqual(
      parseResponses(many.bytes).responses.map((r) => r.status),
      [200],
    )
    const big = await rawRequest(
      port,
      `GET /ok-big HTTP/1.1\r\nHost: a.test\r\nx-big: ${'a'.repeat(15 * 1024)}\r\n` +
        'Connection: close\r\n\r\n',
      { timeoutMs: 5000 },
    )
    assert.deepEqual(
      parseResponses(big.bytes).responses.map((r) => r.status),
      [200],
    )
    assert.deepEqual(
      up.requests.map((r) => r.path),
      ['/ok-many', '/ok-big'],
    )
  })

  test('request bodies are re-framed, never copied', async () => {
    raw.reset()
    const chunked = await rawRequest(
      port,
      'POST /chunked HTTP/1.1\r\nHost: raw.test\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '5;foo=bar\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: t\r\n\r\n' +
        'POST /padded HTTP/1.1\r\nHost: raw.test\r\nContent-Length: 005\r\n\r\nhello',
      { timeoutMs: 5000, idleMs: 300 },
    )
    assert.deepEqual(
      parseResponses(chunked.bytes).responses.map((r) => r.status),
      [200, 200],
    )
    assert.deepEqual(
      raw.requests.map((r) => [r.target, r.body.toString('latin1')]),
      [
        ['/chunked', 'hello world'],
        ['/padded', 'hello'],
      ],
    )
    const wire = raw.connections.map((c) => c.data.toString('latin1')).join('')
    // Chunk extensions and the client's trailer are not passed on.
    assert.doesNotMatch(wire, /foo=bar|x-trailer/i)
    const padded = raw.requests[1]!
    assert.deepEqual(
      padded.headers.filter(([n]) => n.toLowerCase() === 'content-length').map(([, v]) => v),
      ['5'],
    )
  })

  test('a slowloris client gets 408 and is closed after headersTimeout', async () => {
    up.reset()
    const started = Date.now()
    const res = await rawRequest(port, 'GET /slow HTTP/1.1\r\nHost: a.test\r\nX-Slow: ab', {
      timeoutMs: HEADERS_TIMEOUT_MS + TIMEOUT_MARGIN_MS,
    })
    const elapsed = Date.now() - started
    assert.ok(res.isClosedByPeer, `still open after ${elapsed} ms`)
    assert.deepEqual(
      parseResponses(res.bytes).responses.map((r) => r.status),
      [408],
    )
    // Not sooner than the deadline: the 408 is the timeout, not something else.
    assert.ok(elapsed >= HEADERS_TIMEOUT_MS - 100, `closed after only ${elapsed} ms`)
    assert.equal(up.requests.length, 0)
  })

  test('a client that connects and sends nothing is closed after headersTimeout', async () => {
    const started = Date.now()
    const res = await rawRequest(port, [], { timeoutMs: HEADERS_TIMEOUT_MS + TIMEOUT_MARGIN_MS })
    const elapsed = Date.now() - started
    assert.ok(res.isClosedByPeer, `still open after ${elapsed} ms`)
    assert.ok(elapsed >= HEADERS_TIMEOUT_MS - 100, `closed after only ${elapsed} ms`)
  })

  test('pipelined canaries after a refused request on another connection are all answered', async () => {
    up.reset()
    const expected: string[] = []
    for (const [n, refusal] of REFUSALS.entries()) {
      const refused = await rawRequest(port, refusal.bytes, { timeoutMs: 5000 })
      const bad = parseResponses(refused.bytes).responses.map((r) => r.status)
      assert.equal(bad.length, 1, refusal.name)
      assert.ok(refusal.statuses.includes(bad[0]!), `${refusal.name}: ${bad[0]}`)

      const urls = [1, 2, 3].map((i) => `/canary/${n}/${i}?n=${i}`)
      const canaries = urls
        .map((url, i) => `GET ${url} HTTP/1.1\r\nHost: canary.test\r\nx-canary: ${i}\r\n\r\n`)
        .join('')
      const res = await rawRequest(port, canaries, { timeoutMs: 5000, idleMs: 300 })
      const parsed = parseResponses(res.bytes)
      assert.equal(parsed.error, undefined, refusal.name)
      assert.deepEqual(
        parsed.responses.map((r) => r.status),
        [200, 200, 200],
        refusal.name,
      )
      assert.deepEqual(
        parsed.responses.map((r) => (JSON.parse(r.body.toString('utf8')) as { url: string }).url),
        urls,
        refusal.name,
      )
      expected.push(...urls)
    }
    // Only the canaries reached the upstream, each once, in order.
    assert.deepEqual(
      up.requests.map((r) => r.url),
      expected,
    )
  })

  test('the gateway is still healthy after every refusal', async () => {
    const res = await rawRequest(
      port,
      'GET /after HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n',
      { timeoutMs: 5000 },
    )
    assert.deepEqual(
      parseResponses(res.bytes).responses.map((r) => r.status),
      [200],
    )
  })
})
