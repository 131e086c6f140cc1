// The HTTP/1.1 smuggling differential suite (hardening.md §2.6): every payload of the corpus in
// test/hardening/smuggling.json goes over a raw socket to the real gateway, which forwards to a
// recording upstream (raw bytes per connection, strict framing, `x-seen-id` echoing each
// request's x-id). For each payload the client must get exactly one allowed rejection and a
// close with nothing upstream, or the upstream must see exactly one canonically framed request;
// then 20 pipelined canaries on another connection must each come back with their own id and
// reach the upstream exactly once (a desynchronised pooled connection would answer one with
// another's response). Over plain HTTP and over TLS.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { connect as netConnect } from 'node:net'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { createCa, issueCertificate } from '../../src/cli/cert-forge.js'
import {
  REPO_ROOT,
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  parseResponses,
  rawRequest,
  startGateway,
  startRawUpstream,
} from './harness/index.js'
import type {
  GatewayProcess,
  ParsedResponse,
  RawRequest,
  RawRequestOptions,
  RawUpstream,
} from './harness/index.js'

interface CorpusCase {
  readonly name: string
  readonly source: string
  readonly bytes: string
  readonly expect?: 'reject' | 'forward'
}

interface Corpus {
  readonly cases: readonly CorpusCase[]
  readonly sweeps: readonly {
    readonly name: string
    readonly source: string
    readonly bytes: string
    readonly values: readonly string[]
  }[]
}

const HOST = 'smuggle.test'
const CANARIES = 20
/** Cases in flight at once: the ids keep their upstream requests apart. */
const CONCURRENCY = 8
const ALLOWED_REJECTIONS: ReadonlySet<number> = new Set([
  400, 404, 405, 411, 413, 414, 417, 431, 501, 505,
])
/** Hop-by-hop headers no upstream request may carry (the gateway's own `connection` aside). */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'keep-alive',
  'te',
  'trailer',
  'upgrade',
  'http2-settings',
  'proxy-connection',
  'proxy-authorization',
  'expect',
])
/** Read the reply until the peer closes, or this long after the last byte (keep-alive). */
const REPLY_IDLE_MS = 150
const REPLY_TIMEOUT_MS = 5000
const CANARY_TIMEOUT_MS = 15_000

function loadCorpus(): CorpusCase[] {
  const file = join(REPO_ROOT, 'test', 'hardening', 'smuggling.json')
  const corpus = JSON.parse(readFileSync(file, 'utf8')) as Corpus
  const out = [...corpus.cases]
  for (const sweep of corpus.sweeps) {
    for (const value of sweep.values) {
      const hex = value.charCodeAt(0).toString(16).padStart(2, '0')
      out.push({
        name: `${sweep.name} 0x${hex}`,
        source: sweep.source,
        bytes: sweep.bytes.replaceAll('{b}', value),
      })
    }
  }
  return out
}

/** The payload's bytes with its placeholders filled in (one character is one byte). */
function render(c: CorpusCase, id: string): Buffer {
  const smuggled = `GET /smuggled HTTP/1.1\r\nHost: ${HOST}\r\nx-id: ${id}-smuggled\r\n\r\n`
  const text = c.bytes
    .replaceAll('{cl_smuggled}', String(5 + smuggled.length))
    .replaceAll('{smuggled}', smuggled)
    .replaceAll('{host}', HOST)
    .replaceAll('{id}', id)
  return Buffer.from(text, 'latin1')
}

function header(headers: readonly [string, string][], name: string): string[] {
  return headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v)
}

/** Why an upstream request is not canonically framed, or undefined when it is. */
function framingProblem(req: RawRequest): string | undefined {
  const cl = header(req.headers, 'content-length')
  const te = header(req.headers, 'transfer-encoding')
  if (cl.length > 0 && te.length > 0) return 'both content-length and transfer-encoding'
  if (cl.length > 1 || (cl.length === 1 && !/^\d+$/.test(cl[0]!)))
    return `content-length ${cl.join(', ')}`
  if (te.length > 1 || (te.length === 1 && te[0] !== 'chunked'))
    return `transfer-encoding ${te.join(', ')}`
  for (const [name, value] of req.headers) {
    const lower = name.toLowerCase()
    if (name.includes('_')) return `header name with _: ${name}`
    if (HOP_BY_HOP.has(lower) || lower.startsWith('proxy-')) return `hop-by-hop ${name}`
    if (lower === 'connection' && value !== 'keep-alive' && value !== 'close') {
      return `connection: ${value}`
    }
  }
  return undefined
}

function statuses(responses: readonly ParsedResponse[]): string {
  return responses.map((r) => String(r.status)).join(',') || 'no response'
}

interface Exchange {
  readonly responses: ParsedResponse[]
  readonly isClosed: boolean
  /** How reading ended: closed, idle after an upstream answer, or timed out. */
  readonly why: string
}

/**
 * Writes the payload and reads until the gateway closes; after an upstream answer (keep-alive)
 * until nothing more came for REPLY_IDLE_MS, since bytes read past the request would be answered
 * next; at most REPLY_TIMEOUT_MS. A local reply is always followed by a close, so after one the
 * wait for it is the full timeout.
 */
async function exchange(
  port: number,
  payload: Buffer,
  opts: RawRequestOptions,
  onSession?: (session: Buffer) => void,
): Promise<Exchange> {
  const deadline = Date.now() + REPLY_TIMEOUT_MS
  let bytes = Buffer.alloc(0)
  let closed = false
  let why = 'timed out'
  const socket = opts.tls
    ? tlsConnect({ ...opts.tls, host: '127.0.0.1', port })
    : netConnect({ host: '127.0.0.1', port })
  socket.on('error', () => undefined)
  socket.on('session', (session: Buffer) => onSession?.(session))
  socket.on('data', (chunk: Buffer) => (bytes = Buffer.concat([bytes, chunk])))
  const done = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.once(opts.tls ? 'secureConnect' : 'connect', () => socket.write(payload))
  let lastLength = -1
  let quietSince = Date.now()
  // Polls every 25 ms: bounded by REPLY_TIMEOUT_MS / 25 rounds.
  for (let round = 0; Date.now() < deadline && round < REPLY_TIMEOUT_MS / 25 + 1; round++) {
    const settled = await Promise.race([done.then(() => true), delay(25).then(() => false)])
    if (settled) {
      closed = true
      why = 'closed'
      break
    }
    if (bytes.length !== lastLength) {
      lastLength = bytes.length
      quietSince = Date.now()
      continue
    }
    const parsed = parseResponses(bytes).responses
    const answered = parsed.some((r) => header(r.headers, 'x-seen-id').length > 0)
    if (answered && Date.now() - quietSince >= REPLY_IDLE_MS) {
      why = 'idle after an upstream answer'
      break
    }
  }
  socket.destroy()
  return { responses: parseResponses(bytes).responses, isClosed: closed, why }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

interface Transport {
  readonly name: string
  readonly port: () => number
  readonly options: () => RawRequestOptions
}

describe('smuggling differential suite (real gateway, recording upstream)', () => {
  const corpus = loadCorpus()
  const ca = createCa('smuggling CA')
  const cert = issueCertificate(ca, { hosts: [HOST] })
  let gw: GatewayProcess
  let upstream: RawUpstream
  let httpPort = 0
  let tlsPort = 0
  /** Upstream requests by the case id their x-id starts with. */
  const byCase = new Map<string, RawRequest[]>()
  /** The last TLS session: resumed, so the suite does not pay a full handshake per connection. */
  let tlsSession: Buffer | undefined

  before(async () => {
    const [p1, p2, readiness] = await freePorts(3)
    httpPort = p1!
    tlsPort = p2!
    upstream = await startRawUpstream({
      respond: (req) => {
        const id = header(req.headers, 'x-id')[0] ?? '-'
        // Indexed as they arrive: the checks look requests up by case, thousands of times.
        const caseId = id.split('-')[0]!
        const list = byCase.get(caseId)
        if (list === undefined) byCase.set(caseId, [req])
        else list.push(req)
        return (
          'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n' +
          `x-seen-id: ${id}\r\n\r\n${req.method === 'HEAD' ? '' : 'ok'}`
        )
      },
    })
    gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({ readinessPort: readiness!, accessLog: false }),
        `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  servers:
    - port: {number: ${httpPort}, name: http, protocol: HTTP}
      hosts: ['*']
    - port: {number: ${tlsPort}, name: https, protocol: HTTPS}
      hosts: ['*']
      tls: {mode: SIMPLE, credentialName: smuggle}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: all}
spec:
  hosts: ['*']
  gateways: [edge]
  http:
    - route: [{destination: {host: recorder.test}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: recorder}
spec:
  hosts: [recorder.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${upstream.port}}}]
`,
      ),
      files: { 'certs/smuggle/tls.crt': cert.cert, 'certs/smuggle/tls.key': cert.key },
      readyTimeoutMs: 30_000,
    })
  })

  after(async () => {
    await gw?.cleanup()
    await upstream?.close()
  })

  test('the corpus covers the §2.2–2.3 cases (100+ payloads)', () => {
    assert.ok(corpus.length >= 100, `only ${corpus.length} payloads`)
    const names = new Set(corpus.map((c) => c.name))
    assert.equal(names.size, corpus.length, 'payload names are unique')
  })

  /** Requests the upstream saw whose x-id is `id` or starts with `${id}-`. */
  function seenFor(id: string): readonly RawRequest[] {
    return byCase.get(id) ?? []
  }

  /** One payload and its canaries; returns what went wrong (empty: nothing). */
  async function replay(c: CorpusCase, id: string, t: Transport): Promise<string[]> {
    const problems: string[] = []
    const reply = await exchange(t.port(), render(c, id), t.options(), (session) => {
      tlsSession = session
    })
    // 100 Continue is interim; what counts is the final responses.
    const responses = reply.responses.filter((r) => r.status >= 200)
    const isOurs = (r: ParsedResponse): boolean => header(r.headers, 'x-seen-id').length > 0
    const own = (): RawRequest[] => seenFor(id).filter((r) => header(r.headers, 'x-id')[0] === id)
    const forwarded = own()
    if (forwarded.length === 0) {
      // Nothing went upstream: exactly one allowed rejection, and the connection closed.
      const first = responses[0]
      if (first === undefined) problems.push(`no response (${reply.why})`)
      else {
        if (!ALLOWED_REJECTIONS.has(first.status)) problems.push(`local reply ${first.status}`)
        if (header(first.headers, 'connection')[0] !== 'close') {
          problems.push('no Connection: close')
        }
      }
      if (responses.length > 1)
        problems.push(`${responses.length} responses (${statuses(responses)})`)
      if (!reply.isClosed) problems.push(`connection left open after the rejection (${reply.why})`)
      if (c.expect === 'forward') problems.push(`expected to be forwarded (${statuses(responses)})`)
    } else if (forwarded.length === 1) {
      // Forwarded once. Bytes the gateway read past that request are its own next request: the
      // client may see them rejected, but never another upstream answer.
      const answers = responses.filter(isOurs)
      if (answers.length > 1) problems.push(`${answers.length} upstream answers`)
      for (const r of answers) {
        const seenId = header(r.headers, 'x-seen-id')[0]
        if (seenId !== id) problems.push(`answered with the response for ${seenId}`)
      }
      for (const r of responses) {
        if (!isOurs(r) && !ALLOWED_REJECTIONS.has(r.status))
          problems.push(`local reply ${r.status}`)
      }
      if (c.expect === 'reject') problems.push(`expected a rejection (${statuses(responses)})`)
    } else {
      problems.push(`forwarded ${forwarded.length} times`)
    }

    const canaryIds = Array.from({ length: CANARIES }, (_, i) => `${id}-canary-${i}`)
    const canaries = canaryIds
      .map(
        (cid, i) =>
          `GET /canary/${cid} HTTP/1.1\r\nHost: ${HOST}\r\nx-id: ${cid}\r\n` +
          (i === CANARIES - 1 ? 'Connection: close\r\n\r\n' : '\r\n'),
      )
      .join('')
    const canaryReply = await rawRequest(t.port(), canaries, {
      ...t.options(),
      timeoutMs: CANARY_TIMEOUT_MS,
    })
    const answered = parseResponses(canaryReply.bytes).responses
    const echoed = answered.map((r) => `${r.status}:${header(r.headers, 'x-seen-id')[0] ?? '-'}`)
    const want = canaryIds.map((cid) => `200:${cid}`)
    if (echoed.join(' ') !== want.join(' ')) {
      problems.push(`canaries answered ${echoed.length}/${CANARIES}: ${echoed.join(' ')}`)
    }

    const seen = seenFor(id)
    for (const r of seen) {
      const x = header(r.headers, 'x-id')[0] ?? ''
      if (x.endsWith('-smuggled') || r.target === '/smuggled') {
        problems.push(`the smuggled request reached the upstream`)
      }
      const framing = framingProblem(r)
      if (framing !== undefined) problems.push(`${x} framed upstream with ${framing}`)
    }
    for (const cid of canaryIds) {
      const n = seen.filter((r) => header(r.headers, 'x-id')[0] === cid).length
      if (n !== 1) problems.push(`canary ${cid} seen ${n} times upstream`)
    }
    return problems
  }

  const transports: Transport[] = [
    { name: 'plain HTTP', port: () => httpPort, options: () => ({}) },
    {
      name: 'TLS',
      port: () => tlsPort,
      options: () => ({
        tls: {
          servername: HOST,
          ca: ca.cert,
          ALPNProtocols: ['http/1.1'],
          ...(tlsSession !== undefined ? { session: tlsSession } : {}),
        },
      }),
    },
  ]

  for (const transport of transports) {
    test(`every payload over ${transport.name}: no ambiguous forward, canaries intact`, async (t) => {
      const started = Date.now()
      const failures: string[] = []
      const tag = transport.name === 'TLS' ? 't' : 'h'
      let next = 0
      let rejected = 0
      // A fixed pool of workers, each taking the next payload: bounded by the corpus size.
      const worker = async (): Promise<void> => {
        for (let i = next++; i < corpus.length; i = next++) {
          const c = corpus[i]!
          const id = `${tag}${i}`
          const problems = await replay(c, id, transport)
          if (seenFor(id).every((r) => header(r.headers, 'x-id')[0] !== id)) rejected++
          if (problems.length > 0) failures.push(`${c.name} [${c.source}]: ${problems.join('; ')}`)
        }
      }
      await Promise.all(Array.from({ length: CONCURRENCY }, worker))
      const broken = upstream.connections.filter((conn) => conn.error !== undefined)
      for (const conn of broken) failures.push(`upstream connection ${conn.id}: ${conn.error}`)
      t.diagnostic(
        `${corpus.length} payloads over ${transport.name} in ${Date.now() - started} ms: ` +
          `${rejected} rejected, ${corpus.length - rejected} forwarded once`,
      )
      assert.deepEqual(failures, [])
    })
  }

  test('every upstream request belongs to a payload or a canary, and the gateway is alive', async () => {
    const known = /^[ht]\d+(-canary-\d+)?$/
    const strays = upstream.requests
      .map((r) => header(r.headers, 'x-id')[0] ?? `(no x-id) ${r.method} ${r.target}`)
      .filter((x) => !known.test(x))
    assert.deepEqual(strays, [])
    await gw.waitForReady(10_000)
  })
})
