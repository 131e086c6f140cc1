import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createIpcLimitServer } from './server.js'
import { createIpcLimitStore } from './store.js'
import { isLimitRequest, type IpcEndpoint } from './protocol.js'
import { emissionIntervalUs } from '../gcra.js'
import type { Clock, RateDecision } from '../index.js'
import { createManualClock } from '../../../test/support/manual-clock.js'
import { sliceSize } from './rate-slices.js'

const rule = { limit: 2, periodMs: 60_000 }
const ttl = { leaseTtlMs: 10_000 }

/** A worker store wired to `server` as worker `id`, answers delivered on the next turn. */
function worker(
  server: ReturnType<typeof createIpcLimitServer>,
  id: number,
  messages = { sent: 0, answered: 0 },
  clock?: Clock,
) {
  const reply: IpcEndpoint = {
    send(m) {
      messages.answered++
      setImmediate(() => store.receive(structuredClone(m)))
      return true
    },
  }
  const store = createIpcLimitStore(
    {
      send(m) {
        messages.sent++
        const copy: unknown = structuredClone(m)
        setImmediate(() => {
          if (isLimitRequest(copy)) server.handle(id, copy, reply)
        })
        return true
      },
    },
    clock !== undefined ? { clock } : {},
  )
  return store
}

describe('ipc limit store', () => {
  test('two workers share one bucket in the primary', async (t) => {
    const server = createIpcLimitServer()
    t.after(() => server.close())
    const [a, b] = [worker(server, 1), worker(server, 2)]
    const decisions = await Promise.all([
      a.rate.consume('k', rule),
      b.rate.consume('k', rule),
      a.rate.consume('k', rule),
      b.rate.consume('k', rule),
    ])
    assert.equal(decisions.filter((d) => d.allowed).length, 2)
  })

  test("a worker's exit gives back every lease it held, and only those", async (t) => {
    const server = createIpcLimitServer()
    t.after(() => server.close())
    const [a, b] = [worker(server, 1), worker(server, 2)]
    assert.ok((await a.concurrency.acquire('pool', 3, ttl)) !== undefined)
    assert.ok((await a.concurrency.acquire('pool', 3, ttl)) !== undefined)
    const held = await b.concurrency.acquire('pool', 3, ttl)
    assert.ok(held !== undefined)
    assert.equal(await b.concurrency.acquire('pool', 3, ttl), undefined)
    assert.equal(server.releaseWorker(1), 2)
    assert.equal(await b.concurrency.count('pool'), 1)
    await held.release()
    await held.release()
    assert.equal(await b.concurrency.count('pool'), 0)
  })

  test('without the primary, open rules decide locally and closed rules refuse', async () => {
    const store = createIpcLimitStore({
      send(_m, cb) {
        setImmediate(() => cb?.(new Error('channel closed')))
        return false
      },
    })
    const open = await store.rate.consume('k', rule)
    assert.equal(open.allowed, true)
    assert.equal(open.error, false)
    const closed = await store.rate.consume('k', { ...rule, failureMode: 'closed' })
    assert.equal(closed.error, true)
    assert.equal(closed.allowed, false)
    assert.equal(
      await store.concurrency.acquire('p', 1, { ...ttl, failureMode: 'closed' }),
      undefined,
    )
    store.disconnect()
    assert.equal(store.health(), 'degraded')
    await store.close()
  })

  test('the decisions of one turn are one message each way; a refused key asks no more', async (t) => {
    const server = createIpcLimitServer()
    t.after(() => server.close())
    const messages = { sent: 0, answered: 0 }
    const a = worker(server, 1, messages)
    const first = await Promise.all([
      ...Array.from({ length: 10 }, () => a.rate.consume('k', { limit: 5, periodMs: 60_000 })),
      a.concurrency.acquire('pool', 5, ttl),
    ])
    assert.deepEqual(messages, { sent: 1, answered: 1 })
    assert.equal(first.filter((d) => d !== undefined && 'allowed' in d && d.allowed).length, 5)
    const again = a.rate.consume('k', { limit: 5, periodMs: 60_000 })
    assert.ok(!(again instanceof Promise), 'refused without asking the primary')
    assert.equal(again.allowed, false)
    assert.ok(again.retryAfterMs > 0)
    assert.deepEqual(messages, { sent: 1, answered: 1 })
  })

  test('a lease pair is one operation: one message each way, both given back on exit', async (t) => {
    const server = createIpcLimitServer()
    t.after(() => server.close())
    const messages = { sent: 0, answered: 0 }
    const a = worker(server, 1, messages)
    const rq = { key: 'rq', max: 1 }
    const cx = { key: 'cx', max: 2 }
    const [first, second] = await a.concurrency.acquirePair(rq, cx, ttl)
    assert.ok(first !== undefined && second !== undefined)
    assert.equal(first.key, 'rq')
    assert.equal(second.key, 'cx')
    assert.deepEqual(messages, { sent: 1, answered: 1 })
    // rq is full: nothing is taken, not even the second key.
    assert.deepEqual(await a.concurrency.acquirePair(rq, cx, ttl), [undefined, undefined])
    assert.equal(await a.concurrency.count('cx'), 1)
    assert.equal(server.heldBy(1), 2)
    assert.equal(server.releaseWorker(1), 2)
    assert.equal(await a.concurrency.count('rq'), 0)
  })

  test('a rule of 1 024 or more per period is spent from slices: one message per slice', async (t) => {
    const server = createIpcLimitServer()
    t.after(() => server.close())
    const messages = { sent: 0, answered: 0 }
    const a = worker(server, 1, messages)
    const big = { limit: 1_024_000, periodMs: 60_000 }
    assert.equal(sliceSize(big), 1000)
    let allowed = 0
    // 2 500 requests in turns of 100: three slices of 1 000 cover them.
    for (let turn = 0; turn < 25; turn++) {
      const ds = await Promise.all(
        Array.from({ length: 100 }, () => Promise.resolve(a.rate.consume('k', big))),
      )
      allowed += ds.filter((d) => d.allowed).length
    }
    assert.equal(allowed, 2500)
    assert.deepEqual(messages, { sent: 3, answered: 3 })
    // A small rule is still asked one turn at a time.
    await a.rate.consume('small', { limit: 1000, periodMs: 60_000 })
    assert.equal(messages.sent, 4)
  })

  test('with slices, two workers admit at most L + floor(W/T) + one slice in any window', async (t) => {
    const clock = createManualClock(1_000)
    const server = createIpcLimitServer({ clock, scheduler: clock })
    t.after(() => server.close())
    const [a, b] = [worker(server, 1, undefined, clock), worker(server, 2, undefined, clock)]
    const rule = { limit: 4096, periodMs: 1000 }
    const slice = sliceSize(rule)
    const T = emissionIntervalUs(rule)
    const admittedAt: number[] = []
    const burst = async (): Promise<number> => {
      let n = 0
      // Both workers ask until both are refused (bounded).
      for (let i = 0; i < 200; i++) {
        const ds: RateDecision[] = await Promise.all(
          Array.from({ length: 40 }, (_, j) =>
            Promise.resolve((j % 2 === 0 ? a : b).rate.consume('k', rule)),
          ),
        )
        const ok = ds.filter((d) => d.allowed).length
        for (let k = 0; k < ok; k++) admittedAt.push(clock.now())
        n += ok
        if (ok === 0) break
      }
      return n
    }
    const first = await burst()
    // The burst itself: at most the limit plus one slice, and no less than the limit minus a
    // slice per worker (the units of a slice dropped unspent).
    assert.ok(first <= rule.limit + slice, `burst admitted ${first}`)
    assert.ok(first >= rule.limit - 2 * slice, `burst admitted ${first}`)
    for (let step = 0; step < 20; step++) {
      clock.advance(37)
      await burst()
    }
    // Every window between two admission times holds at most L + floor(W/T) + slice.
    const times = [...new Set(admittedAt)].sort((x, y) => x - y)
    for (const start of times) {
      for (const end of times) {
        if (end < start) continue
        const inWindow = admittedAt.filter((x) => x >= start && x <= end).length
        const bound = rule.limit + Math.floor(((end - start) * 1000) / T) + slice
        assert.ok(inWindow <= bound, `[${start}, ${end}]: ${inWindow} > ${bound}`)
      }
    }
  })
})
