/**
 * The failure wrapper's state machine on a manual clock. The shared store here is an in-memory
 * store behind a switch that makes every call fail; the real thing (Redis killed, frozen,
 * restarted) is exercised in test/contract/limits-redis.test.ts.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createLogger } from '../lib/index.js'
import { createFailoverLimitStore, type SharedStore } from './failure.js'
import { createManualClock, type ManualClock } from '../../test/support/manual-clock.js'
import { createMemoryLimitState, createMemoryLimitStore } from './memory/store.js'
import type { LimitStoreHealth, RateRule } from './ports.js'
import type { ConnectionWatcher } from './redis/store.js'

interface Switchable extends SharedStore {
  down: boolean
  /** Calls that fail before the store answers again (one slow call, say). */
  failNext: number
  replicas: number | undefined
  probes: number[]
  watcher: ConnectionWatcher | undefined
}

function switchableShared(clock: ManualClock): Switchable {
  const state = createMemoryLimitState({ clock })
  const inner = createMemoryLimitStore({ state, scheduler: clock })
  // Every call reports its outcome, as the Redis store does per script call.
  const failing = () => {
    if (shared.failNext > 0) shared.failNext--
    shared.watcher?.onOutcome?.(false, new Error('store down'))
    return Promise.reject(new Error('store down'))
  }
  const answered = <T>(value: T): Promise<T> => {
    shared.watcher?.onOutcome?.(true)
    return Promise.resolve(value)
  }
  const shared: Switchable = {
    down: false,
    failNext: 0,
    replicas: undefined,
    probes: [],
    watcher: undefined,
    rate: {
      decide(key, rule, cost, to) {
        const outcome =
          shared.down || shared.failNext > 0
            ? failing()
            : answered(inner.rate.consume(key, rule, cost))
        outcome.then(
          (d) => to.answered(d),
          (err: unknown) => to.failed(err),
        )
        return undefined
      },
    },
    concurrency: {
      acquire: (key, max, options) =>
        shared.down || shared.failNext > 0
          ? failing()
          : inner.concurrency.acquire(key, max, options).then((l) => answered(l)),
      acquirePair: (first, second, options) =>
        shared.down || shared.failNext > 0
          ? failing()
          : inner.concurrency.acquirePair(first, second, options).then((p) => answered(p)),
      count: (key) => (shared.down ? failing() : inner.concurrency.count(key)),
    },
    liveReplicas: () => shared.replicas,
    recover() {
      shared.probes.push(clock.now())
      return shared.down ? failing() : Promise.resolve()
    },
    watch(watcher) {
      shared.watcher = watcher
    },
    close: () => inner.close(),
  }
  return shared
}

function setup(options: { expectedReplicas?: number } = {}) {
  const modes: string[] = []
  const clock = createManualClock()
  const shared = switchableShared(clock)
  const transitions: LimitStoreHealth[] = []
  const withoutStore: string[] = []
  const lines: string[] = []
  const store = createFailoverLimitStore({
    shared,
    local: createMemoryLimitStore({ clock, scheduler: clock }),
    logger: createLogger({ write: (l) => void lines.push(l) }),
    events: {
      onHealthChange: (h) => void transitions.push(h),
      onDecisionWithoutStore: (kind, mode) => void withoutStore.push(`${kind}/${mode}`),
      onDecision: (kind, mode) => void modes.push(`${kind}/${mode}`),
    },
    scheduler: clock,
    clock,
    ...options,
  })
  return { clock, shared, store, transitions, withoutStore, lines, modes }
}

/** Lets promise callbacks (the probe's) run. */
const settle = () => new Promise((resolve) => setImmediate(resolve))

describe('failover limit store', () => {
  test('one transition per outage, probes backing off from 100 ms to 5 s', async () => {
    const { clock, shared, store, transitions, lines } = setup()
    const rule: RateRule = { limit: 5, periodMs: 1000 }
    assert.equal((await store.rate.consume('k', rule)).allowed, true)
    shared.down = true
    for (let i = 0; i < 10; i++) await store.rate.consume('k', rule)
    assert.equal(store.health(), 'degraded')
    // Each probe is scheduled when the previous one has failed: step time in small increments.
    for (let i = 0; i < 600; i++) {
      clock.advance(50)
      await settle()
    }
    const gaps = shared.probes.slice(1).map((at, i) => at - shared.probes[i]!)
    assert.equal(shared.probes[0], 100)
    assert.deepEqual(gaps.slice(0, 7), [200, 400, 800, 1600, 3200, 5000, 5000])
    shared.down = false
    clock.advance(5000)
    await settle()
    assert.equal(store.health(), 'ok')
    assert.deepEqual(transitions, ['degraded', 'ok'])
    assert.equal(lines.filter((l) => l.includes('unreachable')).length, 1)
    assert.equal(lines.filter((l) => l.includes('reachable again')).length, 1)
  })

  test('degraded decisions do not touch the shared store; fail-closed ones are errors', async () => {
    const { shared, store, withoutStore } = setup()
    shared.down = true
    shared.watcher?.onDown(new Error('connection closed'))
    const closed = await store.rate.consume('k', {
      limit: 5,
      periodMs: 1000,
      failureMode: 'closed',
    })
    assert.deepEqual(closed, {
      allowed: false,
      limit: 5,
      remaining: 0,
      resetMs: 0,
      retryAfterMs: 0,
      error: true,
    })
    // Once degraded the local answer comes synchronously: no promise, no wait for the store.
    const open = store.rate.consume('k', { limit: 5, periodMs: 1000 })
    assert.equal(typeof (open as Partial<Promise<unknown>>).then, 'undefined')
    const refused = await store.concurrency.acquire('c', 1, {
      leaseTtlMs: 100,
      failureMode: 'closed',
    })
    assert.equal(refused, undefined)
    assert.deepEqual(withoutStore, ['rate/closed', 'rate/open', 'concurrency/closed'])
  })

  test('the local limiter admits this replica’s share of the limit', async () => {
    const { shared, store } = setup({ expectedReplicas: 3 })
    shared.down = true
    const rule: RateRule = { limit: 10, periodMs: 60_000 }
    let admitted = 0
    for (let i = 0; i < 20; i++) if ((await store.rate.consume('k', rule)).allowed) admitted++
    assert.equal(admitted, 4) // ceil(10 / 3)
    const leases = []
    for (let i = 0; i < 5; i++)
      leases.push(await store.concurrency.acquire('c', 5, { leaseTtlMs: 300 }))
    assert.equal(leases.filter((l) => l !== undefined).length, 2) // ceil(5 / 3)
  })

  test('leases granted locally move to the shared store when it is back', async () => {
    const { clock, shared, store } = setup()
    shared.down = true
    shared.watcher?.onDown(new Error('connection closed'))
    const local = await store.concurrency.acquire('c', 3, { leaseTtlMs: 300 })
    const releasedEarly = await store.concurrency.acquire('c', 3, { leaseTtlMs: 300 })
    assert.ok(local !== undefined && releasedEarly !== undefined)
    await releasedEarly.release()
    shared.down = false
    shared.watcher?.onUp()
    await settle()
    assert.equal(store.health(), 'ok')
    assert.equal(await store.concurrency.count('c'), 1, 'the live local lease holds a shared slot')
    clock.advance(1000) // heartbeats keep the adopted lease alive
    assert.equal(await store.concurrency.count('c'), 1)
    await local.release()
    await local.release()
    assert.equal(await store.concurrency.count('c'), 0)
  })

  test('a dropped connection marks the store degraded before any decision fails', () => {
    const { shared, store, transitions } = setup()
    shared.down = true
    shared.watcher?.onDown(new Error('connection closed'))
    shared.watcher?.onDown(new Error('connection closed'))
    assert.equal(store.health(), 'degraded')
    assert.deepEqual(transitions, ['degraded'])
  })

  test('failed calls short of the pattern decide only their own requests locally', async () => {
    const { clock, shared, store, transitions, modes } = setup()
    const rule: RateRule = { limit: 5, periodMs: 1000 }
    await store.rate.consume('k', rule)
    shared.down = true
    for (let i = 0; i < 4; i++) await store.rate.consume('k', rule)
    assert.equal(store.health(), 'ok', 'four failures in a row are hiccups')
    clock.advance(1100) // out of the failure-rate window
    shared.down = false
    await store.rate.consume('k', rule)
    shared.down = true
    for (let i = 0; i < 4; i++) await store.rate.consume('k', rule)
    assert.equal(store.health(), 'ok', 'an answer in between starts the count again')
    clock.advance(1100)
    assert.deepEqual(transitions, [])
    assert.deepEqual(modes, [
      'rate/store',
      ...Array<string>(4).fill('rate/local-deadline'),
      'rate/store',
      ...Array<string>(4).fill('rate/local-deadline'),
    ])
    await store.rate.consume('k', rule)
    assert.equal(store.health(), 'degraded', 'the fifth in a row declares the outage')
    await store.rate.consume('k', rule)
    assert.equal(modes.at(-1), 'rate/local-outage')
  })

  test('more than half of at least 10 calls failing within a second declares the outage', async () => {
    const { clock, shared, store } = setup()
    const rule: RateRule = { limit: 1000, periodMs: 1000 }
    for (let i = 0; i < 9; i++) {
      shared.down = i % 3 !== 0 // fail, fail, answer: never five in a row
      await store.rate.consume('k', rule)
      clock.advance(50)
    }
    assert.equal(store.health(), 'ok', 'fewer than 10 calls do not make a rate')
    shared.down = true
    await store.rate.consume('k', rule)
    assert.equal(store.health(), 'degraded') // 7 of 10 failed within 500 ms
  })

  test('a failure rate spread thinner than the window is not an outage', async () => {
    const { clock, shared, store } = setup()
    const rule: RateRule = { limit: 1000, periodMs: 1000 }
    for (let i = 0; i < 40; i++) {
      shared.down = i % 3 !== 0
      await store.rate.consume('k', rule)
      clock.advance(400)
      shared.down = false
      for (let j = 0; j < 3; j++) await store.rate.consume('k', rule)
    }
    assert.equal(store.health(), 'ok')
  })

  test('the local share follows the membership; expectedReplicas overrides it', async () => {
    const measured = setup()
    measured.shared.replicas = 4
    measured.shared.down = true
    measured.shared.watcher?.onDown(new Error('connection closed'))
    const rule: RateRule = { limit: 10, periodMs: 60_000 }
    let admitted = 0
    for (let i = 0; i < 20; i++)
      if ((await measured.store.rate.consume('k', rule)).allowed) admitted++
    assert.equal(admitted, 3) // ceil(10 / 4)
    measured.shared.replicas = 2 // a replica died: the share grows for keys decided from now on
    for (let i = 0; i < 20; i++)
      if ((await measured.store.rate.consume('k2', rule)).allowed) admitted++
    assert.equal(admitted, 3 + 5)
    const leases = []
    for (let i = 0; i < 5; i++) {
      leases.push(await measured.store.concurrency.acquire('c', 4, { leaseTtlMs: 300 }))
    }
    assert.equal(leases.filter((l) => l !== undefined).length, 2) // ceil(4 / 2)

    const overridden = setup({ expectedReplicas: 5 })
    overridden.shared.replicas = 2
    overridden.shared.down = true
    overridden.shared.watcher?.onDown(new Error('connection closed'))
    admitted = 0
    for (let i = 0; i < 20; i++)
      if ((await overridden.store.rate.consume('k', rule)).allowed) admitted++
    assert.equal(admitted, 2) // ceil(10 / 5)
  })

  test('a lease past its deadline is granted locally and then takes its slot in the store', async () => {
    const { shared, store, modes } = setup()
    shared.failNext = 1
    const late = await store.concurrency.acquire('c', 2, { leaseTtlMs: 300 })
    assert.ok(late !== undefined)
    assert.deepEqual(modes, ['concurrency/local-deadline'])
    const other = await store.concurrency.acquire('c', 2, { leaseTtlMs: 300 })
    assert.ok(other !== undefined)
    await settle()
    assert.equal(await store.concurrency.count('c'), 2, 'the late lease holds a shared slot')
    assert.equal(await store.concurrency.acquire('c', 2, { leaseTtlMs: 300 }), undefined)
    await late.release()
    assert.equal(await store.concurrency.count('c'), 1)
  })
})
