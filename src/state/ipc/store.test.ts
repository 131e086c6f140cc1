import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createIpcLimitServer } from './server.js'
import { createIpcLimitStore } from './store.js'
import { isLimitRequest, type IpcEndpoint } from './protocol.js'

const rule = { limit: 2, periodMs: 60_000 }
const ttl = { leaseTtlMs: 10_000 }

/** A worker store wired to `server` as worker `id`, answers delivered on the next turn. */
function worker(
  server: ReturnType<typeof createIpcLimitServer>,
  id: number,
  messages = { sent: 0, answered: 0 },
) {
  const reply: IpcEndpoint = {
    send(m) {
      messages.answered++
      setImmediate(() => store.receive(structuredClone(m)))
      return true
    },
  }
  const store = createIpcLimitStore({
    send(m) {
      messages.sent++
      const copy: unknown = structuredClone(m)
      setImmediate(() => {
        if (isLimitRequest(copy)) server.handle(id, copy, reply)
      })
      return true
    },
  })
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
})
