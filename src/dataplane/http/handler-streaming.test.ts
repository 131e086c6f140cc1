import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import {
  client,
  cluster,
  destination,
  forward,
  route,
  sleep,
  snapshot,
  startGateway,
  startUpstream,
  vhost,
} from '../../../test/support/http-harness.js'

const CHUNK = Buffer.alloc(64 * 1024, 'x')
const CHUNKS = 512 // 32 MiB each way

/** Polls until `cond` holds; fails after 5 s. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return
    await sleep(10)
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('streaming', () => {
  test('large bodies stream both ways: each side sees the first bytes before the last are sent', async (t) => {
    let upstreamReceived = 0
    let clientReceived = 0
    const hash = createHash('sha256')
    const up = await startUpstream(
      t,
      'sink',
      (req, res) => {
        req.on('data', (c: Buffer) => {
          upstreamReceived += c.length
          hash.update(c)
        })
        req.on('end', () => {
          res.writeHead(200, { 'x-request-sha256': hash.digest('hex') })
          void (async () => {
            res.write(CHUNK)
            // The rest only once the client holds the first chunk: a buffering proxy stalls here.
            await until(() => clientReceived > 0, 'the first response chunk at the client')
            for (let i = 1; i < CHUNKS; i++) {
              if (!res.write(CHUNK)) await new Promise((r) => res.once('drain', r))
            }
            res.end()
          })()
        })
      },
      { streaming: true },
    )
    const c = cluster('svc.example.com', [{ port: up.port }])
    const gw = await startGateway(
      t,
      snapshot({
        virtualHosts: [vhost(['*'], [route('r', forward(destination(c)))])],
        clusters: [c],
      }),
    )
    const sent = createHash('sha256')
    async function* body(): AsyncGenerator<Buffer> {
      sent.update(CHUNK)
      yield CHUNK
      await until(() => upstreamReceived > 0, 'the first request chunk at the upstream')
      for (let i = 1; i < CHUNKS; i++) {
        sent.update(CHUNK)
        yield CHUNK
      }
    }
    const res = await client(t).get(`${gw.url}/upload`, {
      method: 'POST',
      body: Readable.from(body()),
    })
    assert.equal(res.statusCode, 200)
    for await (const chunk of res.body) clientReceived += (chunk as Buffer).length
    assert.equal(clientReceived, CHUNK.length * CHUNKS)
    assert.equal(upstreamReceived, CHUNK.length * CHUNKS)
    assert.equal(res.headers['x-request-sha256'], sent.digest('hex'))
    const [record] = await gw.waitForRecords(1)
    assert.equal(record?.bytesReceived, CHUNK.length * CHUNKS)
    assert.equal(record?.bytesSent, CHUNK.length * CHUNKS)
    assert.equal(record?.responseFlags, '-')
  })

  test('an upstream reset mid-body reaches the client as a broken response, flag UC', async (t) => {
    const up = await startUpstream(t, 'crash', (_req, res) => {
      res.writeHead(200, { 'content-length': '100000' })
      res.write(Buffer.alloc(1000))
      setTimeout(() => res.socket?.destroy(), 20)
    })
    const c = cluster('svc.example.com', [{ port: up.port }])
    const gw = await startGateway(
      t,
      snapshot({
        virtualHosts: [vhost(['*'], [route('r', forward(destination(c)))])],
        clusters: [c],
      }),
    )
    const res = await client(t).get(`${gw.url}/`)
    assert.equal(res.statusCode, 200)
    await assert.rejects(res.body.arrayBuffer())
    const [record] = await gw.waitForRecords(1)
    assert.equal(record?.status, 200)
    assert.equal(record?.responseFlags, 'UC')
    assert.equal(
      record?.responseCodeDetails,
      'upstream_reset_after_response_started{connection_termination}',
    )
  })

  test('a chunked upstream response that is cut short is not ended cleanly either', async (t) => {
    const up = await startUpstream(t, 'crash', (_req, res) => {
      res.writeHead(200)
      res.write('partial')
      setTimeout(() => res.socket?.destroy(), 20)
    })
    const c = cluster('svc.example.com', [{ port: up.port }])
    const gw = await startGateway(
      t,
      snapshot({
        virtualHosts: [vhost(['*'], [route('r', forward(destination(c)))])],
        clusters: [c],
      }),
    )
    const res = await client(t).get(`${gw.url}/`)
    await assert.rejects(res.body.text())
  })

  test('a client that goes away is recorded with status 0 and DC, and the upstream request ends', async (t) => {
    let upstreamClosed = false
    const up = await startUpstream(t, 'hold', (_req, res) => {
      res.on('close', () => {
        upstreamClosed = true
      })
    })
    const c = cluster('svc.example.com', [{ port: up.port }])
    const gw = await startGateway(
      t,
      snapshot({
        virtualHosts: [vhost(['*'], [route('r', forward(destination(c)))])],
        clusters: [c],
      }),
    )
    const abort = new AbortController()
    const pending = client(t).get(`${gw.url}/`, { signal: abort.signal })
    await until(() => up.seen.length === 1, 'the request at the upstream')
    abort.abort()
    await assert.rejects(pending)
    const [record] = await gw.waitForRecords(1)
    assert.equal(record?.status, 0)
    assert.equal(record?.responseFlags, 'DC')
    assert.equal(record?.responseCodeDetails, 'downstream_remote_disconnect')
    await until(() => upstreamClosed, 'the upstream request to be closed')
  })
})
