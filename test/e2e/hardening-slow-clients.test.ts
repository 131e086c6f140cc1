// Slow and abusive clients against the real gateway process (hardening.md §5): slowloris
// headers, slow request bodies, a body past requestTimeout and readers that never read, each with
// small timeouts so the suite runs in seconds, while a healthy probe keeps getting 200s. What a
// user sees is asserted: statuses and closes on the wire, access log lines, metrics, the
// upstream's open connections and the gateway's memory.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { connect } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  proxyRouteDocs,
  request,
  startGateway,
} from './harness/index.js'
import type { GatewayProcess } from './harness/index.js'

const HEADERS_TIMEOUT_MS = 1000
const REQUEST_TIMEOUT_MS = 4000
const STREAM_IDLE_TIMEOUT_MS = 1500
const MIN_BODY_RATE = 500
const BODY_RATE_WINDOW_MS = 1000
// Header deadlines are checked once a second and the machine is shared and busy: generous.
const MARGIN_MS = 5000
const ATTACKERS = 20

interface LogEntry {
  readonly path: string
  readonly response_code: number
  readonly response_flags: string
  readonly response_code_details: string
}

/** Resolves once `check` returns a value; fails after timeoutMs. Polls every 25 ms. */
async function eventually<T>(
  check: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** A raw connection that records what arrived and when the gateway closed it. */
interface RawConn {
  readonly socket: Socket
  readonly received: () => string
  readonly closedAt: () => number | undefined
}

async function openConn(port: number, opts: { read?: boolean } = {}): Promise<RawConn> {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => undefined)
  let received = ''
  let closedAt: number | undefined
  if (opts.read !== false) {
    socket.setEncoding('latin1')
    socket.on('data', (c: string) => (received += c))
  }
  socket.on('close', () => (closedAt = Date.now()))
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  return { socket, received: () => received, closedAt: () => closedAt }
}

/** Writes one byte of `data` every `everyMs` until it is all sent or the connection closes. */
function dribble(conn: RawConn, data: string, everyMs: number): void {
  let i = 0
  const timer = setInterval(() => {
    if (i >= data.length || conn.closedAt() !== undefined || conn.socket.destroyed) {
      clearInterval(timer)
      return
    }
    conn.socket.write(data[i++]!)
  }, everyMs)
  conn.socket.once('close', () => clearInterval(timer))
}

function statusOf(received: string): number | undefined {
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(received)
  return m === null ? undefined : Number(m[1])
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)
  return kb === null ? 0 : Number(kb[1]) * 1024
}

/** Sends GET /status/200 back to back until stopped; every answer is counted. */
function startProbe(port: number): { stop: () => Promise<{ ok: number; failed: string[] }> } {
  let running = true
  let ok = 0
  const failed: string[] = []
  const loop = (async () => {
    // Bounded however long the attacks take.
    for (let i = 0; running && i < 5000; i++) {
      try {
        const res = await request(`http://127.0.0.1:${port}/status/200`, { timeoutMs: 5000 })
        if (res.status === 200) ok++
        else failed.push(String(res.status))
      } catch (err) {
        failed.push((err as Error).message)
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })()
  return {
    async stop() {
      running = false
      await loop
      return { ok, failed }
    },
  }
}

/**
 * The upstream, counting what a slow client would tie up there: requests in progress (head
 * received, response not finished), requests whose connection closed before their response
 * finished, and bytes written per response. GET /bytes/<n> streams n bytes with backpressure;
 * a POST is answered once its body has arrived; anything else is 200 "ok".
 */
interface CountingUpstream {
  readonly port: number
  readonly inProgress: () => number
  readonly aborted: (path: string) => number
  /** Bytes the upstream managed to write for each GET /bytes/<n>, in arrival order. */
  readonly written: number[]
  close(): Promise<void>
}

const CHUNK = Buffer.alloc(64 * 1024, 'z')

async function startCountingUpstream(): Promise<CountingUpstream> {
  let inProgress = 0
  const aborted = new Map<string, number>()
  const written: number[] = []
  const server: Server = createServer((req, res) => {
    inProgress++
    const path = req.url ?? '/'
    res.on('close', () => {
      inProgress--
      if (!res.writableFinished) aborted.set(path, (aborted.get(path) ?? 0) + 1)
    })
    const bytes = /^\/bytes\/(\d+)$/.exec(path)
    if (bytes !== null) {
      req.resume()
      const size = Number(bytes[1])
      const slot = written.push(0) - 1
      res.writeHead(200, { 'content-length': size })
      const pump = (): void => {
        while (written[slot]! < size && !res.destroyed) {
          written[slot]! += CHUNK.length
          if (!res.write(CHUNK)) return
        }
        if (!res.destroyed) res.end()
      }
      res.on('drain', pump)
      pump()
      return
    }
    req.resume()
    req.on('end', () => res.end('ok'))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    inProgress: () => inProgress,
    aborted: (path) => aborted.get(path) ?? 0,
    written,
    async close() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

describe('slow clients (real process, small timeouts)', () => {
  let gw: GatewayProcess
  let up: CountingUpstream
  let port: number
  let metricsPort: number

  before(async () => {
    const [gatewayPort, readinessPort, metrics] = await freePorts(3)
    port = gatewayPort!
    metricsPort = metrics!
    up = await startCountingUpstream()
    gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({
          readinessPort: readinessPort!,
          metricsPort,
          extraSpec: [
            '  accessLog:',
            '    encoding: JSON',
            '  downstream:',
            `    headersTimeout: ${HEADERS_TIMEOUT_MS}ms`,
            `    requestTimeout: ${REQUEST_TIMEOUT_MS}ms`,
            `    streamIdleTimeout: ${STREAM_IDLE_TIMEOUT_MS}ms`,
            `    minRequestBodyRate: ${MIN_BODY_RATE}`,
            `    minRequestBodyRateWindow: ${BODY_RATE_WINDOW_MS}ms`,
          ],
        }),
        proxyRouteDocs({ gatewayPort: port, upstreamPort: up.port }),
      ),
    })
  })

  after(async () => {
    await gw?.cleanup()
    await up?.close()
  })

  function logEntries(): LogEntry[] {
    const out: LogEntry[] = []
    for (const line of gw.stdout) {
      if (!line.includes('"response_code"')) continue
      try {
        out.push(JSON.parse(line) as LogEntry)
      } catch {
        // not an access log line
      }
    }
    return out
  }

  async function requestsTotal(code: string, flags: string): Promise<number> {
    const text = (await request(`http://127.0.0.1:${metricsPort}/stats/prometheus`)).text
    let sum = 0
    for (const line of text.split('\n')) {
      if (!line.startsWith('istio_requests_total{')) continue
      if (!line.includes(`response_code="${code}"`)) continue
      if (!line.includes(`response_flags="${flags}"`)) continue
      sum += Number(line.slice(line.lastIndexOf(' ') + 1))
    }
    return sum
  }

  test('slowloris headers: 408 and close within headersTimeout + margin, logged', async () => {
    const probe = startProbe(port)
    const head = 'GET /slowloris HTTP/1.1\r\nHost: a.test\r\nX-Pad: ' + 'p'.repeat(200)
    const started = Date.now()
    const conns = await Promise.all(Array.from({ length: ATTACKERS }, () => openConn(port)))
    try {
      for (const c of conns) dribble(c, head, 100)
      await eventually(
        () => (conns.every((c) => c.closedAt() !== undefined) ? true : undefined),
        'every slowloris connection closed',
        HEADERS_TIMEOUT_MS + MARGIN_MS,
      )
      for (const c of conns) {
        assert.equal(statusOf(c.received()), 408)
        assert.ok(c.closedAt()! - started < HEADERS_TIMEOUT_MS + MARGIN_MS)
      }
      await eventually(
        () =>
          logEntries().filter((e) => e.response_code_details === 'request_header_timeout').length >=
          ATTACKERS
            ? true
            : undefined,
        'an access log line per slowloris connection',
      )
    } finally {
      for (const c of conns) c.socket.destroy()
    }
    const { ok, failed } = await probe.stop()
    assert.deepEqual(failed, [], 'the healthy probe never failed')
    assert.ok(ok > 0)
  })

  test('slow bodies: 408 SI, the upstream connections they held are freed, logged and counted', async () => {
    const probe = startProbe(port)
    const before408 = await requestsTotal('408', 'SI')
    // Over the 64 KiB retry buffer: the body streams to the upstream, which holds a connection.
    const head =
      'POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1048576\r\n' +
      'Content-Type: application/octet-stream\r\n\r\n'
    const conns = await Promise.all(Array.from({ length: ATTACKERS }, () => openConn(port)))
    try {
      for (const c of conns) {
        c.socket.write(head)
        // 5 bytes a second, never idle, far below the 500 B/s floor.
        dribble(c, 'b'.repeat(1000), 200)
      }
      await eventually(
        () => (up.inProgress() >= ATTACKERS ? true : undefined),
        'the slow bodies holding upstream requests open',
      )
      await eventually(
        () => (conns.every((c) => statusOf(c.received()) !== undefined) ? true : undefined),
        'a response on every slow-body connection',
        BODY_RATE_WINDOW_MS + MARGIN_MS * 2,
      )
      for (const c of conns) assert.equal(statusOf(c.received()), 408)
      await eventually(
        () => (conns.every((c) => c.closedAt() !== undefined) ? true : undefined),
        'every slow-body connection closed',
      )
      // Every slow body's upstream request was aborted; nothing is left in progress but, at
      // most, the probe's request.
      await eventually(
        () => (up.aborted('/upload') === ATTACKERS && up.inProgress() <= 1 ? true : undefined),
        'the upstream requests aborted',
      )
      const lines = await eventually(() => {
        const found = logEntries().filter((e) => e.path === '/upload')
        return found.length >= ATTACKERS ? found : undefined
      }, 'an access log line per slow body')
      assert.equal(lines.length, ATTACKERS)
      for (const e of lines) {
        assert.equal(e.response_code, 408)
        assert.equal(e.response_flags, 'SI')
        assert.equal(e.response_code_details, 'request_body_rate_too_low')
      }
      await eventually(
        async () =>
          (await requestsTotal('408', 'SI')) - before408 === ATTACKERS ? true : undefined,
        'istio_requests_total counting every 408 SI',
      )
    } finally {
      for (const c of conns) c.socket.destroy()
    }
    const { failed } = await probe.stop()
    assert.deepEqual(failed, [], 'the healthy probe never failed')
  })

  test('a body still arriving at requestTimeout: the 408 that goes out is the one logged', async () => {
    // 2 KB a second clears the rate floor; requestTimeout ends it.
    const conn = await openConn(port)
    try {
      conn.socket.write('POST /overall HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1048576\r\n\r\n')
      const chunk = 'c'.repeat(200)
      const timer = setInterval(() => {
        if (conn.closedAt() === undefined) conn.socket.write(chunk)
      }, 100)
      conn.socket.once('close', () => clearInterval(timer))
      await eventually(
        () => (conn.closedAt() !== undefined ? true : undefined),
        'the connection closed',
        REQUEST_TIMEOUT_MS + MARGIN_MS,
      )
      clearInterval(timer)
      assert.equal(statusOf(conn.received()), 408)
      const entry = await eventually(
        () => logEntries().find((e) => e.path === '/overall'),
        'the access log line',
      )
      assert.equal(entry.response_code, 408)
      assert.equal(entry.response_code_details, 'request_overall_timeout')
    } finally {
      conn.socket.destroy()
    }
  })

  test('readers that never read: bounded gateway memory, cut at streamIdleTimeout', async () => {
    const probe = startProbe(port)
    const size = 32 * 1024 * 1024
    const readers = 3
    const baseline = rssBytes(gw.proc.pid!)
    const conns = await Promise.all(
      Array.from({ length: readers }, () => openConn(port, { read: false })),
    )
    try {
      for (const c of conns) {
        c.socket.pause()
        c.socket.write(`GET /bytes/${size} HTTP/1.1\r\nHost: a.test\r\n\r\n`)
      }
      let peak = baseline
      await eventually(
        () => {
          peak = Math.max(peak, rssBytes(gw.proc.pid!))
          const cut = logEntries().filter(
            (e) => e.path === `/bytes/${size}` && e.response_flags === 'SI',
          )
          return cut.length === readers ? true : undefined
        },
        'every slow reader cut by the stream idle timeout',
        STREAM_IDLE_TIMEOUT_MS + MARGIN_MS * 3,
      )
      const growth = peak - baseline
      // Backpressure reached the upstream: it could not write the whole body.
      for (const w of up.written.slice(-readers)) assert.ok(w < size, `upstream wrote ${w}`)
      assert.ok(
        growth < 48 * 1024 * 1024,
        `gateway RSS grew ${Math.round(growth / 1048576)} MiB for ${readers} stalled ${size >> 20} MiB responses`,
      )
      for (const e of logEntries().filter((x) => x.path === `/bytes/${size}`)) {
        assert.equal(e.response_code, 200)
        assert.equal(e.response_code_details, 'stream_idle_timeout')
      }
      // Reading now: what was buffered, then the close; never the whole body.
      for (const c of conns) {
        let got = 0
        c.socket.on('data', (chunk: Buffer) => (got += chunk.length))
        c.socket.resume()
        await eventually(
          () => (c.closedAt() !== undefined ? true : undefined),
          'the cut connection closed',
        )
        assert.ok(got < size, `truncated (${got} of ${size} bytes)`)
      }
    } finally {
      for (const c of conns) c.socket.destroy()
    }
    const { failed } = await probe.stop()
    assert.deepEqual(failed, [], 'the healthy probe never failed')
  })
})
