import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { request as nodeRequest } from 'node:http'
import type * as ir from '../../ir/index.js'
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
import type { Gateway, UpstreamBehaviour } from '../../../test/support/http-harness.js'

const BASE_LIMITS: ir.DownstreamLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  idleTimeoutMs: 60_000,
  maxHeaderBytes: 16_384,
  maxHeaderCount: 100,
  maxUriBytes: 8192,
  maxRequestsPerConnection: 1000,
  headersWithUnderscores: 'REJECT',
  streamIdleTimeoutMs: 60_000,
  minRequestBodyRate: 240,
  minRequestBodyRateWindowMs: 10_000,
}

/** Polls until `cond` holds; fails after timeoutMs. */
async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

interface Setup {
  readonly gw: Gateway
  readonly cluster: ir.Cluster
  /** Upstream requests whose connection closed before the upstream answered them. */
  readonly upstreamAborted: () => number
}

async function setup(
  t: Parameters<typeof startUpstream>[0],
  limits: Partial<ir.DownstreamLimits>,
  behaviour: UpstreamBehaviour,
): Promise<Setup> {
  let aborted = 0
  const up = await startUpstream(
    t,
    'up',
    (req, res, body) => {
      res.on('close', () => {
        if (!res.writableFinished) aborted++
      })
      behaviour(req, res, body)
    },
    { streaming: true },
  )
  const c = cluster('svc.example.com', [{ port: up.port }])
  const snap = snapshot({
    virtualHosts: [vhost(['*'], [route('r', forward(destination(c)))])],
    clusters: [c],
    settings: { downstream: { ...BASE_LIMITS, ...limits } },
  })
  const gw = await startGateway(t, snap)
  return { gw, cluster: c, upstreamAborted: () => aborted }
}

function inFlight(s: Setup): number {
  return s.gw.prepared.clusters.get(s.cluster.id)?.inFlight ?? -1
}

/** Reads the request body and never answers. */
const SILENT: UpstreamBehaviour = (req) => {
  req.resume()
}

interface SlowPost {
  readonly status: Promise<{ status: number; body: string }>
  /** Bytes written when the response arrived. */
  readonly sent: () => number
}

/** A POST whose body goes out one byte every `everyMs`, until a response (or 400 bytes). */
function slowPost(url: string, everyMs: number): SlowPost {
  let sent = 0
  let timer: NodeJS.Timeout | undefined
  const status = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = nodeRequest(
      `${url}/upload`,
      { method: 'POST', headers: { 'content-length': '100000' }, agent: false },
      (res: IncomingMessage) => {
        clearInterval(timer)
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() })
        })
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.flushHeaders()
    timer = setInterval(() => {
      if (sent >= 400) {
        clearInterval(timer)
        req.destroy(new Error('no response after 400 slow bytes'))
        return
      }
      sent++
      req.write('x')
    }, everyMs)
  })
  return { status, sent: () => sent }
}

describe('stream idle timeout and request body rate', () => {
  test('an upstream that never answers: 408 SI at streamIdleTimeout, upstream request aborted', async (t) => {
    const s = await setup(t, { streamIdleTimeoutMs: 300 }, SILENT)
    const started = Date.now()
    const res = await client(t).get(`${s.gw.url}/wait`, { headersTimeout: 20_000 })
    const body = await res.body.text()
    assert.equal(res.statusCode, 408)
    assert.equal(body, 'stream timeout')
    assert.ok(Date.now() - started >= 300, 'not before the timeout')
    const [record] = await s.gw.waitForRecords(1)
    assert.equal(record?.status, 408)
    assert.equal(record?.responseFlags, 'SI')
    assert.equal(record?.responseCodeDetails, 'stream_idle_timeout')
    await until(() => s.upstreamAborted() === 1, 'the upstream request aborted')
    await until(() => inFlight(s) === 0, 'the breaker count released')
  })

  test('a response that stalls after its headers is reset at streamIdleTimeout', async (t) => {
    const s = await setup(t, { streamIdleTimeoutMs: 300 }, (req, res) => {
      req.resume()
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('first part')
    })
    const res = await client(t).get(`${s.gw.url}/stall`, { bodyTimeout: 20_000 })
    assert.equal(res.statusCode, 200)
    await assert.rejects(res.body.text(), 'a truncated body, never a clean end')
    const [record] = await s.gw.waitForRecords(1)
    assert.equal(record?.status, 200)
    assert.equal(record?.responseFlags, 'SI')
    assert.equal(record?.responseCodeDetails, 'stream_idle_timeout')
    await until(() => s.upstreamAborted() === 1, 'the upstream response aborted')
  })

  test('a body slower than minRequestBodyRate: 408 SI, upstream request aborted, breaker freed', async (t) => {
    const s = await setup(
      t,
      { minRequestBodyRate: 1000, minRequestBodyRateWindowMs: 400, streamIdleTimeoutMs: 30_000 },
      SILENT,
    )
    // 20 bytes a second: far below 1000, yet never idle.
    const post = slowPost(s.gw.url, 50)
    const res = await post.status
    assert.equal(res.status, 408)
    assert.ok(post.sent() < 400, `cut before the client gave up (sent ${post.sent()})`)
    const [record] = await s.gw.waitForRecords(1)
    assert.equal(record?.responseFlags, 'SI')
    assert.equal(record?.responseCodeDetails, 'request_body_rate_too_low')
    await until(() => s.upstreamAborted() === 1, 'the upstream request aborted')
    await until(() => inFlight(s) === 0, 'the breaker count released')
  })

  test('a body the upstream pushes back on is not cut, however long it waits', async (t) => {
    const size = 8 * 1024 * 1024
    const s = await setup(
      t,
      { minRequestBodyRate: 100_000, minRequestBodyRateWindowMs: 200, streamIdleTimeoutMs: 30_000 },
      (req, res) => {
        // Reads nothing for a while: the gateway's buffers fill and it stops reading the client.
        let got = 0
        setTimeout(() => {
          req.on('data', (c: Buffer) => (got += c.length))
          req.on('end', () => res.end(String(got)))
        }, 1500)
      },
    )
    const res = await client(t).get(`${s.gw.url}/push-back`, {
      method: 'POST',
      body: Buffer.alloc(size, 'b'),
      headersTimeout: 20_000,
    })
    assert.equal(res.statusCode, 200)
    assert.equal(await res.body.text(), String(size))
    const [record] = await s.gw.waitForRecords(1)
    assert.equal(record?.responseFlags, '-')
  })

  test('a steady slow download is not idle', async (t) => {
    const s = await setup(t, { streamIdleTimeoutMs: 400 }, (req, res) => {
      req.resume()
      res.writeHead(200)
      let n = 0
      const timer = setInterval(() => {
        res.write('tick\n')
        if (++n === 8) {
          clearInterval(timer)
          res.end()
        }
      }, 150)
    })
    const res = await client(t).get(`${s.gw.url}/ticks`)
    assert.equal(res.statusCode, 200)
    assert.equal(await res.body.text(), 'tick\n'.repeat(8))
  })
})
