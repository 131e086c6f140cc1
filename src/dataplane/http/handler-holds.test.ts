// What a request acquires goes back on every way it can end: the circuit-breaker slot, the
// retries it holds, its shared-pool lease and its timers, checked after each exit against the
// cluster's counters, the shared limit store and the process's pending timers.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type * as ir from '../../ir/index.js'
import { createMemoryLimitStore } from '../../state/index.js'
import {
  client,
  cluster,
  destination,
  forward,
  prefixMatch,
  route,
  snapshot,
  startGateway,
  startUpstream,
  vhost,
  type Gateway,
} from '../../../test/support/http-harness.js'

const RETRY: ir.RetryPolicy = {
  attempts: 2,
  retryOn: ['5xx', 'reset', 'connect-failure'],
  retriableStatusCodes: [],
  backoffBaseMs: 5,
}

function pendingTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
}

async function setup(t: Parameters<typeof startGateway>[0]) {
  const store = createMemoryLimitStore()
  t.after(() => store.close())
  const held: (() => void)[] = []
  let flakyCalls = 0
  const up = await startUpstream(t, 'up', (req, res) => {
    switch (req.url) {
      case '/slow':
      case '/timeout':
        held.push(() => res.end('late'))
        return
      case '/reset':
        req.socket.destroy()
        return
      case '/flaky':
        res.writeHead(flakyCalls++ % 2 === 0 ? 503 : 200).end()
        return
      default:
        res.end('ok')
    }
  })
  const c = cluster('svc.example.com', [{ port: up.port }], {
    policy: { connectionPool: { maxConnections: 50 } },
  })
  const gw = await startGateway(
    t,
    snapshot({
      virtualHosts: [
        vhost(
          ['*'],
          [
            route('timeout', forward(destination(c)), {
              match: [prefixMatch('/timeout')],
              timeoutMs: 100,
            }),
            route('local', forward(destination(c)), {
              match: [prefixMatch('/abort')],
              fault: { abort: { httpStatus: 418, percent: 100 } },
            }),
            route('delayed', forward(destination(c)), {
              match: [prefixMatch('/delayed')],
              fault: { delay: { fixedDelayMs: 60_000, percent: 100 } },
            }),
            route('r', forward(destination(c)), { retry: RETRY }),
          ],
        ),
      ],
      clusters: [c],
    }),
    { registry: { shared: { limiter: store.concurrency, leaseTtlMs: 30_000 } } },
  )
  const baseline = pendingTimers()
  return { gw, c, store, held, baseline }
}

type Setup = Awaited<ReturnType<typeof setup>>

/** Every counter back to zero (timers back to what the idle gateway has), within a deadline. */
async function assertAllReleased(s: Setup, exit: string): Promise<void> {
  const read = async () => {
    const runtime = s.gw.prepared.clusters.get(s.c.id)
    return {
      inFlight: runtime?.inFlight,
      retriesInFlight: runtime?.retriesInFlight,
      sharedLeases: await s.store.concurrency.count(`cx:${s.c.id}`),
      timers: Math.max(0, pendingTimers() - s.baseline),
    }
  }
  const zero = { inFlight: 0, retriesInFlight: 0, sharedLeases: 0, timers: 0 }
  let last = await read()
  for (let i = 0; i < 500 && JSON.stringify(last) !== JSON.stringify(zero); i++) {
    await new Promise((r) => setTimeout(r, 10))
    last = await read()
  }
  assert.deepEqual(last, zero, `after ${exit}`)
}

async function untilSeen(gw: Gateway, n: number): Promise<void> {
  await gw.waitForRecords(n)
}

describe('request holds are released on every exit', () => {
  test('success, local reply, retry, upstream reset, route timeout', async (t) => {
    const s = await setup(t)
    const http = client(t)
    const get = async (path: string) => {
      const res = await http.get(`${s.gw.url}${path}`)
      await res.body.text()
      return res.statusCode
    }
    assert.equal(await get('/'), 200)
    await assertAllReleased(s, 'success')
    assert.equal(await get('/abort'), 418)
    await assertAllReleased(s, 'a local reply (fault abort)')
    assert.equal(await get('/flaky'), 200)
    await assertAllReleased(s, 'a retry that succeeded')
    assert.equal(await get('/reset'), 503)
    await assertAllReleased(s, 'upstream resets with retries exhausted')
    assert.equal(await get('/timeout'), 504)
    await assertAllReleased(s, 'the route timeout')
    s.held.splice(0).forEach((f) => f())
    await untilSeen(s.gw, 5)
    assert.deepEqual(
      s.gw.records.map((r) => [r.status, r.responseFlags]),
      [
        [200, '-'],
        [418, 'FI'],
        [200, '-'],
        [503, 'UC,URX'],
        [504, 'UT'],
      ],
    )
  })

  test('the client going away mid-request, and during a fault delay', async (t) => {
    const s = await setup(t)
    const http = client(t)
    for (const path of ['/slow', '/delayed']) {
      const abort = new AbortController()
      const pending = http.get(`${s.gw.url}${path}`, { signal: abort.signal })
      const seen = s.held.length
      for (let i = 0; i < 500; i++) {
        const runtime = s.gw.prepared.clusters.get(s.c.id)
        const isWaiting = path === '/slow' ? s.held.length > seen : pendingTimers() > s.baseline
        if (isWaiting && (path !== '/slow' || (runtime?.inFlight ?? 0) > 0)) break
        await new Promise((r) => setTimeout(r, 10))
      }
      abort.abort()
      await assert.rejects(pending)
      await assertAllReleased(s, `the client leaving ${path}`)
    }
    s.held.splice(0).forEach((f) => f())
    const records = await s.gw.waitForRecords(2)
    assert.deepEqual(
      records.map((r) => r.responseFlags),
      ['DC', 'DI,DC'],
    )
  })

  test('a drain closing the downstream connection of a request in flight', async (t) => {
    const s = await setup(t)
    const http = client(t)
    const pending = http.get(`${s.gw.url}/slow`)
    for (let i = 0; i < 500 && s.held.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 10))
    }
    s.gw.server.closeAllConnections()
    await assert.rejects(pending)
    await assertAllReleased(s, 'the drain deadline')
    s.held.splice(0).forEach((f) => f())
  })
})
