// The HTTP/1.1 smuggling differential suite (hardening.md §2.6): every payload of the corpus in
// test/hardening/smuggling.json goes over a raw socket to the real gateway, which forwards to a
// recording upstream (raw bytes per connection, strict framing, `x-seen-id` echoing each
// request's x-id). For each payload the client must get exactly one allowed rejection and a
// close with nothing upstream, or the upstream must see exactly one canonically framed request;
// then 20 pipelined canaries on another connection must each come back with their own id and
// reach the upstream exactly once (a desynchronised pooled connection would answer one with
// another's response). Over plain HTTP and over TLS.
//
// Over HTTP/2 (§2.6 step 5): the cases of test/hardening/smuggling-h2.json (§2.4: conflicting
// content-length, transfer-encoding and other connection-specific headers, CR/LF/NUL in values,
// pseudo-header abuse, :authority against host) go as raw HEADERS/DATA frames, one stream on a new
// connection each. Each must be refused (stream reset, GOAWAY or an allowed 4xx) with nothing
// upstream, or forwarded exactly once as canonically framed HTTP/1.1 with the routed :authority
// as its host; after each, the HTTP/1.1 canaries and one HTTP/2 canary must come back intact.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { connect as netConnect } from 'node:net'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { createCa, issueCertificate } from '../../src/cli/cert-forge.js'
import {
  FLAG,
  FRAME,
  SETTINGS_ACK,
  frame,
  headersFrame,
  literalHeader,
  openRawH2,
  responseStatus,
  type Frame,
} from './harness/h2-frames.js'
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

interface H2Case {
  readonly name: string
  readonly source: string
  readonly headers: readonly (readonly [string, string])[]
  readonly data?: string
  readonly expect?: 'reject' | 'forward'
  readonly absent?: readonly string[]
}

interface H2Reply {
  /** The first answer on the stream: a response, a reset, a GOAWAY, a close, or nothing. */
  readonly kind: 'response' | 'reset' | 'goaway' | 'closed' | 'nothing'
  readonly status?: number | undefined
}

function loadH2Corpus(): H2Case[] {
  const file = join(REPO_ROOT, 'test', 'hardening', 'smuggling-h2.json')
  return (JSON.parse(readFileSync(file, 'utf8')) as { cases: H2Case[] }).cases
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
  const h2Corpus = loadH2Corpus()
  /** How the HTTP/2 cases were answered ("reset", "response400", ...), for the diagnostic. */
  const h2Outcomes = new Map<string, number>()
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

  /**
   * 20 pipelined canaries on a new HTTP/1.1 connection: each answered with its own id and seen
   * upstream once; and no request of case `id` reached the upstream smuggled or badly framed.
   */
  async function canaryProblems(id: string, t: Transport): Promise<string[]> {
    const problems: string[] = []
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

    problems.push(...(await canaryProblems(id, t)))
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

  /** Sends one HTTP/2 case as raw frames on a new connection; what the client got back. */
  async function sendH2(c: H2Case, id: string): Promise<H2Reply> {
    const conn = await openRawH2({ port: tlsPort, servername: HOST, ca: ca.cert })
    try {
      const fill = (v: string): string => v.replaceAll('{host}', HOST).replaceAll('{id}', id)
      const block = Buffer.concat(c.headers.map(([n, v]) => literalHeader(fill(n), fill(v))))
      const data = c.data === undefined ? undefined : Buffer.from(fill(c.data), 'latin1')
      await conn.write(
        Buffer.concat([
          SETTINGS_ACK,
          headersFrame(1, block, FLAG.END_HEADERS | (data === undefined ? FLAG.END_STREAM : 0)),
          ...(data === undefined ? [] : [frame(FRAME.DATA, FLAG.END_STREAM, 1, data)]),
        ]),
      )
      const isAnswer = (f: Frame): boolean =>
        f.type === FRAME.GOAWAY ||
        (f.streamId === 1 && (f.type === FRAME.HEADERS || f.type === FRAME.RST_STREAM))
      await conn.waitForFrame(isAnswer, REPLY_TIMEOUT_MS)
      const answer = conn.frames.find(isAnswer)
      if (answer === undefined) return { kind: conn.closedAt !== undefined ? 'closed' : 'nothing' }
      if (answer.type === FRAME.HEADERS) {
        return { kind: 'response', status: responseStatus(answer.payload) }
      }
      return { kind: answer.type === FRAME.GOAWAY ? 'goaway' : 'reset' }
    } finally {
      conn.destroy()
    }
  }

  /** A GET over a new HTTP/2 connection must come back 200 from the upstream, seen there once. */
  async function h2CanaryProblems(id: string): Promise<string[]> {
    const cid = `${id}-canary-h2`
    const reply = await sendH2(
      {
        name: 'canary',
        source: '',
        headers: [
          [':method', 'GET'],
          [':scheme', 'https'],
          [':path', `/canary/${cid}`],
          [':authority', HOST],
          ['x-id', cid],
        ],
      },
      id,
    )
    const n = seenFor(id).filter((r) => header(r.headers, 'x-id')[0] === cid).length
    return reply.kind === 'response' && reply.status === 200 && n === 1
      ? []
      : [`h2 canary: ${reply.kind} ${reply.status ?? ''}, seen ${n} times upstream`]
  }

  /** One HTTP/2 case and its canaries (HTTP/1.1 over TLS and HTTP/2); what went wrong. */
  async function replayH2(c: H2Case, id: string): Promise<string[]> {
    const problems: string[] = []
    const reply = await sendH2(c, id)
    const outcome = `${reply.kind}${reply.status ?? ''}`
    h2Outcomes.set(outcome, (h2Outcomes.get(outcome) ?? 0) + 1)
    const own = (): RawRequest[] => seenFor(id).filter((r) => header(r.headers, 'x-id')[0] === id)
    // The canaries first: a request the gateway still forwards late is counted with them.
    const canaries = [
      ...(await canaryProblems(id, transports[1]!)),
      ...(await h2CanaryProblems(id)),
    ]
    const forwarded = own()
    const got = `${reply.kind}${reply.status !== undefined ? ` ${reply.status}` : ''}`
    if (forwarded.length === 0) {
      // Refused: the stream reset, the connection ended, or an allowed local rejection.
      const isRefused =
        reply.kind === 'reset' ||
        reply.kind === 'goaway' ||
        reply.kind === 'closed' ||
        (reply.status !== undefined && ALLOWED_REJECTIONS.has(reply.status))
      if (!isRefused) problems.push(`not refused and nothing upstream (${got})`)
      if (c.expect === 'forward') problems.push(`expected to be forwarded (${got})`)
    } else if (forwarded.length === 1) {
      const req = forwarded[0]!
      // Answered by the upstream; or reset later, when the rest of the stream broke its own
      // framing (DATA past content-length 0) after the upstream saw a complete request.
      const isAnswered = reply.kind === 'response' && reply.status === 200
      if (!isAnswered && reply.kind !== 'reset') {
        problems.push(`forwarded, but the client got ${got}`)
      }
      if (req.version !== 'HTTP/1.1') problems.push(`forwarded as ${req.version}`)
      const hosts = header(req.headers, 'host')
      if (hosts.length !== 1 || hosts[0] !== HOST) {
        problems.push(`forwarded with host ${hosts.join(', ')} (routed on :authority ${HOST})`)
      }
      for (const name of c.absent ?? []) {
        if (header(req.headers, name).length > 0) problems.push(`${name} reached the upstream`)
      }
      const body = req.body.toString('latin1')
      const data = c.data ?? ''
      if (isAnswered ? body !== data : !data.startsWith(body) || body === data) {
        problems.push(`body upstream ${JSON.stringify(body)} after ${got}`)
      }
      if (c.expect === 'reject') problems.push(`expected a refusal (${got})`)
    } else {
      problems.push(`forwarded ${forwarded.length} times`)
    }
    return [...problems, ...canaries]
  }

  test('every HTTP/2 payload: refused with nothing upstream or forwarded once as canonical HTTP/1.1', async (t) => {
    const started = Date.now()
    const failures: string[] = []
    let next = 0
    let refused = 0
    // A fixed pool of workers, each taking the next case: bounded by the corpus size.
    const worker = async (): Promise<void> => {
      for (let i = next++; i < h2Corpus.length; i = next++) {
        const c = h2Corpus[i]!
        const id = `v${i}`
        const problems = await replayH2(c, id)
        if (seenFor(id).every((r) => header(r.headers, 'x-id')[0] !== id)) refused++
        if (problems.length > 0) failures.push(`${c.name} [${c.source}]: ${problems.join('; ')}`)
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker))
    const broken = upstream.connections.filter((conn) => conn.error !== undefined)
    for (const conn of broken) failures.push(`upstream connection ${conn.id}: ${conn.error}`)
    t.diagnostic(
      `${h2Corpus.length} HTTP/2 payloads in ${Date.now() - started} ms: ` +
        `${refused} refused, ${h2Corpus.length - refused} forwarded once ` +
        `(${[...h2Outcomes].map(([k, n]) => `${k} ${n}`).join(', ')})`,
    )
    assert.deepEqual(failures, [])
  })

  test('every upstream request belongs to a payload or a canary, and the gateway is alive', async () => {
    const known = /^[htv]\d+(-canary-(\d+|h2))?$/
    const strays = upstream.requests
      .map((r) => header(r.headers, 'x-id')[0] ?? `(no x-id) ${r.method} ${r.target}`)
      .filter((x) => !known.test(x))
    assert.deepEqual(strays, [])
    await gw.waitForReady(10_000)
  })
})
