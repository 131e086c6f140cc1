import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import type * as ir from '../../ir/index.js'
import { createMemoryLimitState, createMemoryLimitStore } from '../../state/index.js'
import { createSharedPoolLimits, type PoolTicket } from './shared-pool-limits.js'

const ID = 'outbound|80||api.test' as ir.ClusterId

function clusterWith(
  connectionPool: ir.ConnectionPoolPolicy,
  protocol: ir.ServiceProtocol = 'HTTP',
): ir.Cluster {
  return {
    id: ID,
    host: 'api.test',
    port: 80,
    protocol,
    resolution: 'STATIC',
    endpoints: [],
    dnsRefreshMs: 60_000,
    connectTimeoutMs: 10_000,
    policy: { connectionPool },
    source: { kind: 'ServiceEntry', name: 'api', namespace: 'default' } as unknown as ir.SourceRef,
  }
}

/** Records what each request was told, in order. */
function recorder() {
  const outcomes: [number, boolean][] = []
  const done = (owner: number, isAdmitted: boolean) => void outcomes.push([owner, isAdmitted])
  return { outcomes, done }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await sleep(1)
}

describe('shared connection-pool limits', () => {
  test('no limits, or only per-connection settings: nothing to share', () => {
    const store = createMemoryLimitStore()
    const opts = { limiter: store.concurrency, leaseTtlMs: 1000 }
    assert.equal(createSharedPoolLimits(clusterWith({ maxRetries: 3 }), opts), undefined)
    // HTTP/2 upstreams multiplex: maxConnections does not bound requests.
    assert.equal(
      createSharedPoolLimits(clusterWith({ maxConnections: 1 }, 'HTTP2'), opts),
      undefined,
    )
  })

  test('maxConnections: the rest wait FIFO and get a slot as one is released', async (t) => {
    const store = createMemoryLimitStore()
    t.after(() => store.close())
    const limits = createSharedPoolLimits(clusterWith({ maxConnections: 2 }), {
      limiter: store.concurrency,
      leaseTtlMs: 1000,
    })!
    const { outcomes, done } = recorder()
    const tickets: PoolTicket[] = []
    for (let i = 0; i < 4; i++) tickets.push(limits.enter(i, done))
    await settle()
    assert.deepEqual(outcomes, [
      [0, true],
      [1, true],
    ])
    assert.equal(limits.waiting, 2)
    assert.equal(await store.concurrency.count(`cx:${ID}`), 2)
    tickets[0]!.release()
    await settle()
    assert.deepEqual(outcomes.slice(2), [[2, true]])
    assert.equal(await store.concurrency.count(`cx:${ID}`), 2)
    tickets[0]!.release() // idempotent: frees nothing more
    await settle()
    assert.equal(outcomes.length, 3)
    for (const x of tickets) x.release()
    await settle()
    assert.equal(await store.concurrency.count(`cx:${ID}`), 0)
  })

  test('a slot released by another replica reaches a waiting request by polling', async (t) => {
    const state = createMemoryLimitState()
    const a = createMemoryLimitStore({ state })
    const b = createMemoryLimitStore({ state })
    t.after(async () => {
      await a.close()
      await b.close()
    })
    const cluster = clusterWith({ maxConnections: 1 })
    const onA = createSharedPoolLimits(cluster, { limiter: a.concurrency, leaseTtlMs: 1000 })!
    const onB = createSharedPoolLimits(cluster, { limiter: b.concurrency, leaseTtlMs: 1000 })!
    const { outcomes, done } = recorder()
    const first = onA.enter(1, done)
    await settle()
    const second = onB.enter(2, done)
    await sleep(60)
    assert.deepEqual(outcomes, [[1, true]])
    first.release()
    for (let i = 0; i < 50 && outcomes.length < 2; i++) await sleep(10)
    assert.deepEqual(outcomes, [
      [1, true],
      [2, true],
    ])
    second.release()
  })

  test('http1MaxPendingRequests bounds the waiting; http2MaxRequests bounds admission', async (t) => {
    const store = createMemoryLimitStore()
    t.after(() => store.close())
    const opts = { limiter: store.concurrency, leaseTtlMs: 1000 }
    const pending = createSharedPoolLimits(
      clusterWith({ maxConnections: 1, maxPendingRequests: 1 }),
      opts,
    )!
    const { outcomes, done } = recorder()
    const held = [pending.enter(1, done), pending.enter(2, done), pending.enter(3, done)]
    await settle()
    assert.deepEqual(outcomes, [
      [1, true],
      [3, false],
    ])
    for (const x of held) x.release()

    const requests = createSharedPoolLimits(clusterWith({ maxRequests: 2 }), opts)!
    const r = recorder()
    const more = [1, 2, 3].map((i) => requests.enter(i, r.done))
    await settle()
    assert.deepEqual(r.outcomes, [
      [1, true],
      [2, true],
      [3, false],
    ])
    for (const x of more) x.release()
    await settle()
    assert.equal(await store.concurrency.count(`rq:${ID}`), 0)
  })

  test('a request that ends while waiting is never admitted and holds nothing', async (t) => {
    const store = createMemoryLimitStore()
    t.after(() => store.close())
    const limits = createSharedPoolLimits(
      clusterWith({ maxConnections: 1, maxPendingRequests: 5 }),
      { limiter: store.concurrency, leaseTtlMs: 1000 },
    )!
    const { outcomes, done } = recorder()
    const first = limits.enter(1, done)
    const gone = limits.enter(2, done)
    const third = limits.enter(3, done)
    await settle()
    assert.equal(await store.concurrency.count(`pq:${ID}`), 2)
    gone.release()
    first.release()
    await settle()
    assert.deepEqual(outcomes, [
      [1, true],
      [3, true],
    ])
    assert.equal(await store.concurrency.count(`pq:${ID}`), 0)
    assert.equal(await store.concurrency.count(`cx:${ID}`), 1)
    third.release()
  })
})
