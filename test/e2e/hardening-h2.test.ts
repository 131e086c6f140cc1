// HTTP/2 abuse against the real gateway process (hardening.md §2.4, issue: one small request
// kills the process): hand-built frames over TLS with ALPN h2. Each attack must end its own
// connection only — the process keeps running, a connection opened before the attack keeps
// being served, the error is counted in portcullis_downstream_connection_errors_total and logged
// a bounded number of times.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { connect, type ClientHttp2Session } from 'node:http2'
import { EDGE_HOST, metricSum, startEdgeGateway, type EdgeGateway } from './harness/edge-gateway.js'
import {
  continuationFrame,
  FLAG,
  FRAME,
  H2_ERROR,
  headersFrame,
  openRawH2,
  padHeader,
  pingFrame,
  PREFACE,
  requestBlock,
  rstStreamFrame,
  settingsFrame,
  windowUpdateFrame,
  type RawH2Connection,
} from './harness/h2-frames.js'

const ERRORS = 'portcullis_downstream_connection_errors_total'
/** Generous: the box is shared; the bounds that matter are asserted on measured times. */
const WAIT_MS = 10_000

/** CPU seconds (user + system) the process has used, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // utime and stime are fields 14 and 15 of the whole line (1-based), in clock ticks (100/s).
  return (Number(fields[11]) + Number(fields[12])) / 100
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = WAIT_MS) {
  const deadline = Date.now() + timeoutMs
  for (let i = 0; i < 1000; i++) {
    if (await check()) return
    if (Date.now() > deadline) break
    await new Promise((r) => setTimeout(r, 50))
  }
  assert.fail(`${what}: not within ${timeoutMs} ms`)
}

describe('HTTP/2 abuse ends that connection only (e2e)', () => {
  let edge: EdgeGateway
  let bystander: ClientHttp2Session
  const raw: RawH2Connection[] = []

  const open = async (opts: { noPreface?: boolean } = {}) => {
    const c = await openRawH2({
      port: edge.tlsPort,
      servername: EDGE_HOST,
      ca: edge.ca.cert,
      ...opts,
    })
    raw.push(c)
    return c
  }

  /** The session opened before every attack still answers, and new connections are served. */
  const stillServing = async () => {
    assert.equal(edge.gw.proc.exitCode, null, 'the gateway process exited')
    const status = await new Promise<number>((resolve, reject) => {
      const stream = bystander.request({ ':path': '/bystander' })
      stream.on('response', (h) => resolve(Number(h[':status'])))
      stream.on('error', reject)
      stream.resume()
      stream.end()
    })
    assert.equal(status, 200)
    await edge.canary()
  }

  const errors = async (reason: string) =>
    metricSum(await edge.metrics(), ERRORS, { listener: `127.0.0.1:${edge.tlsPort}`, reason })

  before(async () => {
    edge = await startEdgeGateway()
    bystander = connect(`https://${EDGE_HOST}:${edge.tlsPort}`, {
      host: '127.0.0.1',
      servername: EDGE_HOST,
      ca: edge.ca.cert,
    } as Parameters<typeof connect>[1])
    bystander.on('error', () => undefined)
    await new Promise((r) => bystander.once('connect', r))
  })

  after(async () => {
    for (const c of raw) c.destroy()
    bystander?.destroy()
    await edge?.close()
  })

  test('ALPN h2, then HTTP/1.1 bytes: that connection closes, the process keeps serving', async () => {
    const c = await open({ noPreface: true })
    await c.write(Buffer.from('GET / HTTP/1.1\r\nHost: web.example.com\r\n\r\n'))
    assert.ok(await c.waitClosed(WAIT_MS), 'connection not closed')
    await stillServing()
    await waitFor('h2_bad_preface counted', async () => (await errors('h2_bad_preface')) >= 1)
    await edge.gw.waitForLine(/downstream connection closed on error .*reason=h2_bad_preface/)
  })

  test('preface + 10 000 SETTINGS frames in the first read: closed, process keeps serving', async () => {
    const c = await open({ noPreface: true })
    const frames: Buffer[] = [PREFACE]
    for (let i = 0; i < 10_000; i++) frames.push(settingsFrame([[0x3, 100]]))
    void c.write(Buffer.concat(frames))
    assert.ok(await c.waitClosed(WAIT_MS), 'connection not closed')
    await stillServing()
  })

  test('rapid reset: 10 000 HEADERS+RST_STREAM pairs → GOAWAY ≤ 2 s, TCP closed ≤ 1 s after, < 1 CPU-s', async () => {
    const c = await open()
    const pairs: Buffer[] = []
    for (let i = 0; i < 10_000; i++) {
      const id = 2 * i + 1
      pairs.push(
        headersFrame(
          id,
          requestBlock(EDGE_HOST, `/reset/${i}`),
          FLAG.END_HEADERS | FLAG.END_STREAM,
        ),
        rstStreamFrame(id, H2_ERROR.CANCEL),
      )
    }
    const attack = Buffer.concat(pairs)
    const cpuBefore = cpuSeconds(edge.gw.proc.pid!)
    const startedAt = Date.now()
    void c.write(attack)
    assert.ok(await c.waitForFrame((f) => f.type === FRAME.GOAWAY, WAIT_MS), 'no GOAWAY')
    assert.ok(await c.waitClosed(WAIT_MS), 'connection not closed after GOAWAY')
    const goawayMs = c.goawayAt! - startedAt
    const closeMs = c.closedAt! - c.goawayAt!
    const cpu = cpuSeconds(edge.gw.proc.pid!) - cpuBefore
    process.stdout.write(
      `# rapid reset: GOAWAY after ${goawayMs} ms (code ${c.goawayCode()}), closed ${closeMs} ms later, gateway CPU ${cpu.toFixed(2)} s\n`,
    )
    assert.ok(goawayMs <= 2000, `GOAWAY after ${goawayMs} ms`)
    assert.ok(closeMs <= 1000, `closed ${closeMs} ms after GOAWAY`)
    assert.ok(cpu < 1, `gateway used ${cpu} CPU-s`)
    await stillServing()
    await waitFor('h2_rapid_reset counted', async () => (await errors('h2_rapid_reset')) >= 1)
  })

  test('CONTINUATION flood → GOAWAY, TCP closed ≤ 1 s after', async () => {
    const c = await open()
    const frames: Buffer[] = [headersFrame(1, requestBlock(EDGE_HOST, '/continuation'), 0)]
    for (let i = 0; i < 10_000; i++) frames.push(continuationFrame(1, padHeader(`v${i}`), 0))
    void c.write(Buffer.concat(frames))
    assert.ok(await c.waitForFrame((f) => f.type === FRAME.GOAWAY, WAIT_MS), 'no GOAWAY')
    assert.ok(await c.waitClosed(WAIT_MS), 'connection not closed')
    assert.ok(c.closedAt! - c.goawayAt! <= 1000, `closed ${c.closedAt! - c.goawayAt!} ms after`)
    await stillServing()
  })

  /** GOAWAY arrives, with an error code, and the TCP connection closes ≤ 1 s after it. */
  const endsWithGoaway = async (c: RawH2Connection, code?: number) => {
    assert.ok(await c.waitForFrame((f) => f.type === FRAME.GOAWAY, WAIT_MS), 'no GOAWAY')
    if (code !== undefined) assert.equal(c.goawayCode(), code)
    else assert.notEqual(c.goawayCode(), H2_ERROR.NO_ERROR)
    assert.ok(await c.waitClosed(WAIT_MS), 'connection not closed after GOAWAY')
    const afterMs = c.closedAt! - c.goawayAt!
    assert.ok(afterMs <= 1000, `closed ${afterMs} ms after GOAWAY`)
  }

  const flood = (make: (i: number) => Buffer, count: number) =>
    Buffer.concat(Array.from({ length: count }, (_, i) => make(i)))

  test('PING flood: that connection ends, counted', async () => {
    const c = await open()
    void c.write(flood(pingFrame, 20_000))
    // The GOAWAY may be stuck behind the ACKs nghttp2 still has to write; the close is not.
    assert.ok(await c.waitClosed(WAIT_MS), 'connection not closed')
    if (c.goawayAt !== undefined) assert.ok(c.closedAt! - c.goawayAt <= 1000)
    await stillServing()
    await waitFor('h2_ping_flood counted', async () => (await errors('h2_ping_flood')) >= 1)
  })

  test('PING flood from a client that never reads its ACKs: that connection ends', async () => {
    const c = await open()
    const before = await errors('h2_ping_flood')
    c.socket.pause()
    void c.write(flood(pingFrame, 20_000))
    await waitFor('h2_ping_flood counted', async () => (await errors('h2_ping_flood')) > before)
    // A paused socket sees no FIN; reading again shows whether the gateway closed it.
    c.socket.resume()
    assert.ok(await c.waitClosed(WAIT_MS), 'connection not closed')
    await stillServing()
  })

  test('SETTINGS flood after the handshake: GOAWAY, that connection ends', async () => {
    const c = await open()
    void c.write(flood(() => settingsFrame([[0x3, 100]]), 20_000))
    await endsWithGoaway(c)
    await stillServing()
  })

  for (const [name, frames] of [
    ['WINDOW_UPDATE past 2^31-1', [windowUpdateFrame(0, 0x7fffffff), windowUpdateFrame(0, 1)]],
    ['WINDOW_UPDATE of 0', [windowUpdateFrame(0, 0)]],
    ['WINDOW_UPDATE on a stream never opened', [windowUpdateFrame(99, 1)]],
  ] as const) {
    test(`${name}: GOAWAY, that connection ends`, async () => {
      const c = await open()
      await c.write(Buffer.concat([...frames]))
      await endsWithGoaway(c)
      await stillServing()
    })
  }

  test('a flood of bad connections is counted in full and logged a few times only', async () => {
    const before = await errors('h2_bad_preface')
    const mark = edge.gw.mark()
    const count = 30
    for (let i = 0; i < count; i++) {
      const c = await open({ noPreface: true })
      await c.write(Buffer.from('GET /flood HTTP/1.1\r\n\r\n'))
      assert.ok(await c.waitClosed(WAIT_MS), 'connection not closed')
    }
    await waitFor(
      `${count} more h2_bad_preface counted`,
      async () => (await errors('h2_bad_preface')) >= before + count,
    )
    const lines = edge.gw.output
      .slice(mark)
      .filter((l) => /closed on error .*reason=h2_bad_preface/.test(l.line))
    assert.ok(lines.length >= 1 && lines.length <= 5, `${lines.length} log lines`)
    await stillServing()
  })
})
