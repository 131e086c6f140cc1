// The HTTP/2 pool against a real node:http2 server on loopback: sessions are reused, a session
// takes up to maxConcurrentStreams (ours or the peer's) before another opens, up to maxSessions;
// GOAWAY and session errors retire a session so the next stream opens a new one; idle sessions
// close. Every wait is a condition polled with a deadline.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  createServer,
  type Http2Server,
  type Http2Session,
  type ServerHttp2Stream,
} from 'node:http2'
import type { AddressInfo } from 'node:net'
import { H2Pool, type H2DispatchHandler, type H2PoolOptions } from './h2-pool.js'

interface Outcome {
  readonly status?: number
  readonly body?: string
  readonly error?: Error
}

/** Dispatches one GET and resolves with what the handler saw. */
function get(pool: H2Pool, path: string): Promise<Outcome> {
  return new Promise((resolve) => {
    let status = 0
    const chunks: Buffer[] = []
    const handler: H2DispatchHandler = {
      onConnect: () => undefined,
      onHeaders: (s) => {
        status = s
        return true
      },
      onData: (chunk) => {
        chunks.push(chunk)
        return true
      },
      onComplete: () => resolve({ status, body: Buffer.concat(chunks).toString() }),
      onError: (error) => resolve({ error }),
      onBodySent: () => undefined,
    }
    pool.dispatch(
      {
        method: 'GET',
        path,
        headers: ['host', 'upstream.test'],
        body: null,
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      },
      handler,
    )
  })
}

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('HTTP/2 pool', () => {
  let server: Http2Server
  let port: number
  const sessions: Http2Session[] = []
  let closedSessions = 0
  const held: ServerHttp2Stream[] = []

  before(async () => {
    server = createServer()
    server.on('session', (s) => {
      sessions.push(s)
      s.once('close', () => closedSessions++)
      s.on('error', () => undefined)
    })
    server.on('stream', (stream, headers) => {
      stream.on('error', () => undefined)
      const path = headers[':path']
      if (path === '/hold') {
        held.push(stream)
        return
      }
      if (path === '/goaway') {
        stream.respond({ ':status': 200 })
        stream.end('bye')
        stream.session?.goaway()
        return
      }
      if (path === '/reset-session') {
        stream.session?.destroy()
        return
      }
      stream.respond({ ':status': 200 })
      stream.end(`ok ${path ?? ''}`)
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    port = (server.address() as AddressInfo).port
  })
  after(async () => {
    for (const s of sessions) s.destroy()
    await new Promise((r) => server.close(r))
  })

  const pools: H2Pool[] = []
  const newPool = (o: Partial<H2PoolOptions> = {}): H2Pool => {
    const pool = new H2Pool({
      ip: '127.0.0.1',
      port,
      connectTimeoutMs: 5000,
      maxSessions: 8,
      maxConcurrentStreams: undefined,
      idleTimeoutMs: 60_000,
      maxHeaderBytes: 16_384,
      ...o,
    })
    pools.push(pool)
    return pool
  }
  after(async () => {
    for (const p of pools) await p.destroy()
  })

  const release = (n: number): void => {
    for (const s of held.splice(0, n)) {
      s.respond({ ':status': 200 })
      s.end('released')
    }
  }

  test('sequential requests reuse one session', async () => {
    const pool = newPool()
    const before = sessions.length
    for (let i = 0; i < 5; i++)
      assert.deepEqual(await get(pool, `/r${i}`), {
        status: 200,
        body: `ok /r${i}`,
      })
    assert.equal(sessions.length - before, 1)
    assert.equal(pool.sessionCount, 1)
  })

  test('a session takes maxConcurrentStreams streams, then another opens', async () => {
    const pool = newPool({ maxConcurrentStreams: 2 })
    const before = sessions.length
    const all = Array.from({ length: 5 }, () => get(pool, '/hold'))
    await until('5 held streams', () => held.length === 5)
    assert.equal(sessions.length - before, 3)
    assert.equal(pool.sessionCount, 3)
    release(5)
    for (const o of await Promise.all(all)) assert.equal(o.status, 200)
  })

  test('at maxSessions the least busy session takes the stream', async () => {
    const pool = newPool({ maxConcurrentStreams: 1, maxSessions: 2 })
    const before = sessions.length
    const all = Array.from({ length: 5 }, () => get(pool, '/hold'))
    await until('5 held streams', () => held.length === 5)
    assert.equal(sessions.length - before, 2)
    release(5)
    for (const o of await Promise.all(all)) assert.equal(o.status, 200)
  })

  test("the peer's SETTINGS_MAX_CONCURRENT_STREAMS lowers our limit", async () => {
    const limited = createServer({ settings: { maxConcurrentStreams: 1 } })
    let opened = 0
    const waiting: ServerHttp2Stream[] = []
    limited.on('session', () => opened++)
    limited.on('stream', (s) => waiting.push(s))
    await new Promise<void>((r) => limited.listen(0, '127.0.0.1', r))
    const pool = new H2Pool({
      ip: '127.0.0.1',
      port: (limited.address() as AddressInfo).port,
      connectTimeoutMs: 5000,
      maxSessions: 8,
      maxConcurrentStreams: 100,
      idleTimeoutMs: 60_000,
      maxHeaderBytes: 16_384,
    })
    try {
      const first = get(pool, '/a')
      await until('the first stream', () => waiting.length === 1)
      // The first session is connected now and its peer allows one stream: a second session.
      const second = get(pool, '/b')
      await until('the second stream', () => waiting.length === 2)
      assert.equal(opened, 2)
      for (const s of waiting) {
        s.respond({ ':status': 204 })
        s.end()
      }
      assert.equal((await first).status, 204)
      assert.equal((await second).status, 204)
    } finally {
      await pool.destroy()
      await new Promise((r) => limited.close(r))
    }
  })

  test('GOAWAY retires the session: the next request opens a new one', async () => {
    const pool = newPool()
    const before = sessions.length
    assert.equal((await get(pool, '/goaway')).body, 'bye')
    await until('the session retired', () => pool.sessionCount === 0)
    assert.equal((await get(pool, '/after')).body, 'ok /after')
    assert.equal(sessions.length - before, 2)
  })

  test('a session error fails its streams and the next request opens a new session', async () => {
    const pool = newPool()
    const before = sessions.length
    const broken = await get(pool, '/reset-session')
    assert.ok(broken.error instanceof Error)
    await until('the session dropped', () => pool.sessionCount === 0)
    assert.equal((await get(pool, '/next')).body, 'ok /next')
    assert.equal(sessions.length - before, 2)
  })

  test('a refused connection fails every stream waiting for it', async () => {
    const spare = createServer()
    await new Promise<void>((r) => spare.listen(0, '127.0.0.1', r))
    const deadPort = (spare.address() as AddressInfo).port
    await new Promise((r) => spare.close(r))
    const pool = new H2Pool({
      ip: '127.0.0.1',
      port: deadPort,
      connectTimeoutMs: 5000,
      maxSessions: 1,
      maxConcurrentStreams: undefined,
      idleTimeoutMs: 60_000,
      maxHeaderBytes: 16_384,
    })
    try {
      const outcomes = await Promise.all([get(pool, '/x'), get(pool, '/y')])
      for (const o of outcomes) assert.ok(o.error instanceof Error, JSON.stringify(o))
      await until('no session left', () => pool.sessionCount === 0)
    } finally {
      await pool.destroy()
    }
  })

  test('an idle session closes after idleTimeoutMs; the next request opens a new one', async () => {
    const pool = newPool({ idleTimeoutMs: 50 })
    const before = sessions.length
    const closedBefore = closedSessions
    assert.equal((await get(pool, '/once')).status, 200)
    await until('the idle session closed', () => closedSessions > closedBefore)
    await until('the pool dropped it', () => pool.sessionCount === 0)
    assert.equal((await get(pool, '/again')).status, 200)
    assert.equal(sessions.length - before, 2)
  })

  test('after close() no stream is taken and open sessions end once idle', async () => {
    const pool = newPool()
    const held0 = held.length
    const inFlight = get(pool, '/hold')
    await until('the held stream', () => held.length === held0 + 1)
    await pool.close()
    const refused = await get(pool, '/late')
    assert.ok(refused.error instanceof Error)
    const closedBefore = closedSessions
    release(1)
    assert.equal((await inFlight).status, 200)
    await until('the session closed', () => closedSessions > closedBefore)
  })
})
