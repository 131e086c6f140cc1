/**
 * The limit contract against Redis (a real redis-server on a free loopback port), then what only
 * a shared store can get wrong: Redis killed, frozen and restarted mid-run, replayed increments,
 * keys without a TTL.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Redis } from 'ioredis'
import { createLogger } from '../../src/lib/index.js'
import {
  createLimitStore,
  createRedisLimitStore,
  type LimitStore,
  type LimitStoreHealth,
  type RateDecision,
  type RateRule,
} from '../../src/state/index.js'
import { createManualClock } from '../support/manual-clock.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import { runLimitContract } from './limits.contract.js'

const COMMAND_TIMEOUT_MS = 50
/** How late a decision may be beyond the command timeout on a busy test machine. */
const LATENCY_MARGIN_MS = 150
/** Recovery: ioredis reconnects within ~1 s of Redis returning, then the next probe succeeds. */
const RECOVERY_TIMEOUT_MS = 8000

let contractServer: RedisServer
before(async () => {
  contractServer = await startRedisServer()
})
after(() => contractServer.stop())

let subjectCount = 0
runLimitContract('redis store', () => {
  // Each case gets its own key prefix: fresh state on the shared server.
  const keyPrefix = `contract-${++subjectCount}:`
  return Promise.resolve({
    manualTime: false,
    // A generous timeout: these cases are about exactness, and on a loaded machine a 50 ms
    // timeout would hand some decisions to the local fallback (the fault cases below use 50 ms).
    makeStore: () =>
      createLimitStore({
        redis: { url: contractServer.url, keyPrefix, commandTimeout: 10_000, connectTimeout: 5000 },
      }),
    advance: (ms: number) => sleep(ms),
  })
})

interface Observed {
  readonly store: LimitStore
  readonly transitions: LimitStoreHealth[]
  readonly warnings: string[]
  readonly withoutStore: string[]
}

async function observedStore(
  t: TestContext,
  server: RedisServer,
  keyPrefix: string,
): Promise<Observed> {
  const transitions: LimitStoreHealth[] = []
  const warnings: string[] = []
  const withoutStore: string[] = []
  const logger = createLogger({
    level: 'warn',
    write: (line) => void warnings.push(line),
  })
  const store = await createLimitStore(
    { redis: { url: server.url, keyPrefix, commandTimeout: COMMAND_TIMEOUT_MS } },
    {
      logger,
      events: {
        onHealthChange: (h) => void transitions.push(h),
        onDecisionWithoutStore: (kind, mode) => void withoutStore.push(`${kind}/${mode}`),
      },
    },
  )
  t.after(() => store.close())
  assert.equal(store.health(), 'ok')
  return { store, transitions, warnings, withoutStore }
}

async function timed<T>(run: () => Promise<T> | T): Promise<{ value: T; ms: number }> {
  const start = performance.now()
  const value = await run()
  return { value, ms: performance.now() - start }
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!check()) {
    if (performance.now() > deadline)
      assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(20)
  }
}

/** A plain client to look at what Redis holds. */
function inspector(t: TestContext, server: RedisServer): Redis {
  const redis = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  t.after(() => redis.quit())
  return redis
}

describe('redis store: faults', () => {
  let server: RedisServer
  let debugServer: RedisServer
  before(async () => {
    server = await startRedisServer()
    debugServer = await startRedisServer({ args: ['--enable-debug-command', 'yes'] })
  })
  after(() => Promise.all([server.stop(), debugServer.stop()]))

  test('Redis killed: fail-open rules decide locally within the command timeout', async (t) => {
    const { store, transitions, warnings, withoutStore } = await observedStore(t, server, 'open:')
    t.after(() => server.restart())
    const rule: RateRule = { limit: 5, periodMs: 60_000 }
    assert.equal((await store.rate.consume('k', rule)).allowed, true)

    await server.kill('SIGKILL')
    let admitted = 0
    let slowest = 0
    for (let i = 0; i < 50; i++) {
      const { value, ms } = await timed(() => store.rate.consume('k', rule))
      slowest = Math.max(slowest, ms)
      assert.equal(value.error, false)
      if (value.allowed) admitted++
    }
    const { value: burst, ms: burstMs } = await timed(() =>
      Promise.all(
        Array.from({ length: 100 }, () => Promise.resolve(store.rate.consume('k', rule))),
      ),
    )
    slowest = Math.max(slowest, burstMs)
    admitted += burst.filter((d) => d.allowed).length
    assert.ok(slowest <= COMMAND_TIMEOUT_MS + LATENCY_MARGIN_MS, `slowest decision ${slowest} ms`)
    // The local limiter starts empty: exactly the limit again, from it alone.
    assert.equal(admitted, 5)
    const lease = await store.concurrency.acquire('conn', 2, { leaseTtlMs: 1000 })
    assert.ok(lease !== undefined, 'fail-open concurrency limits are kept locally')
    assert.equal(store.health(), 'degraded')
    assert.deepEqual(transitions, ['degraded'])
    assert.equal(warnings.filter((l) => l.includes('limit store unreachable')).length, 1)
    assert.equal(withoutStore.filter((k) => k === 'rate/open').length, 150)
    assert.deepEqual(
      withoutStore.filter((k) => k.startsWith('concurrency')),
      ['concurrency/open'],
    )
    await lease.release()
  })

  test('Redis killed: fail-closed rules answer with error decisions', async (t) => {
    const { store } = await observedStore(t, server, 'closed:')
    t.after(() => server.restart())
    const closed: RateRule = { limit: 5, periodMs: 60_000, failureMode: 'closed' }
    const open: RateRule = { limit: 5, periodMs: 60_000 }
    assert.equal((await store.rate.consume('k', closed)).allowed, true)

    await server.kill('SIGKILL')
    for (let i = 0; i < 20; i++) {
      const { value, ms } = await timed(() => store.rate.consume('k', closed))
      assert.ok(ms <= COMMAND_TIMEOUT_MS + LATENCY_MARGIN_MS, `decision took ${ms} ms`)
      assert.equal(value.error, true)
      assert.equal(value.allowed, false)
    }
    assert.equal((await store.rate.consume('other', open)).allowed, true, 'open rules still admit')
    const refused = await store.concurrency.acquire('conn', 2, {
      leaseTtlMs: 1000,
      failureMode: 'closed',
    })
    assert.equal(refused, undefined)
  })

  test('Redis frozen (SIGSTOP): decisions come within the command timeout, the outage is declared after the failure pattern', async (t) => {
    const { store, transitions, warnings } = await observedStore(t, server, 'frozen:')
    t.after(() => server.resume())
    const rule: RateRule = { limit: 3, periodMs: 60_000 }
    assert.equal((await store.rate.consume('k', rule)).allowed, true)

    server.pause()
    const { value: first, ms } = await timed(() => store.rate.consume('k', rule))
    assert.ok(ms >= COMMAND_TIMEOUT_MS - 5, `the first decision waited for the timeout (${ms} ms)`)
    assert.ok(ms <= COMMAND_TIMEOUT_MS + LATENCY_MARGIN_MS, `first decision took ${ms} ms`)
    assert.equal(first.allowed, true, 'decided by the local limiter')
    assert.equal(store.health(), 'ok', 'one late answer is not an outage')
    // Calls past the lease deadline (500 ms) are failures; five in a row declare the outage.
    const deadline = performance.now() + 10_000
    let decisions = 1
    while (store.health() === 'ok' && performance.now() < deadline && decisions < 1000) {
      const { ms: each } = await timed(() => store.rate.consume('k', rule))
      assert.ok(each <= COMMAND_TIMEOUT_MS + LATENCY_MARGIN_MS, `a decision took ${each} ms`)
      decisions++
    }
    assert.equal(store.health(), 'degraded')
    assert.equal(warnings.filter((l) => l.includes('limit store unreachable')).length, 1)
    const { ms: laterMs } = await timed(() => store.rate.consume('k', rule))
    assert.ok(laterMs < COMMAND_TIMEOUT_MS, `once degraded, decisions do not wait (${laterMs} ms)`)

    server.resume()
    await waitFor('recovery', () => store.health() === 'ok', RECOVERY_TIMEOUT_MS)
    assert.deepEqual(transitions, ['degraded', 'ok'])
  })

  test('a slow command (DEBUG SLEEP) is a hiccup: rate decisions local for those requests, leases wait, no outage', async (t) => {
    const modes: string[] = []
    const store = await createLimitStore(
      {
        redis: { url: debugServer.url, keyPrefix: 'hiccup:', commandTimeout: COMMAND_TIMEOUT_MS },
        expectedReplicas: 2,
      },
      { events: { onDecision: (kind, mode) => void modes.push(`${kind}/${mode}`) } },
    )
    t.after(() => store.close())
    const redis = inspector(t, debugServer)
    const rule: RateRule = { limit: 10, periodMs: 60_000 }
    assert.equal((await store.rate.consume('r', rule)).allowed, true)

    const sleeping = redis.call('DEBUG', 'SLEEP', '0.3')
    // Sent while Redis sleeps: answered only after it, so past the 50 ms rate deadline.
    await sleep(20)
    const decisions = await Promise.all(
      Array.from({ length: 20 }, () => Promise.resolve(store.rate.consume('r', rule))),
    )
    const lease = await store.concurrency.acquire('c', 1, { leaseTtlMs: 5000 })
    await sleeping
    // Local share ceil(10 / 2) = 5: the late requests were decided locally, each on its own.
    assert.equal(decisions.filter((d) => d.allowed).length, 5)
    assert.equal(modes.filter((m) => m === 'rate/local-deadline').length, 20)
    // The lease waited for Redis (below the 500 ms lease deadline) instead of going local.
    assert.ok(lease !== undefined)
    assert.deepEqual(
      modes.filter((m) => m.startsWith('concurrency')),
      ['concurrency/store'],
    )
    assert.equal(await redis.zcard('hiccup:conc:c'), 1)
    assert.equal(store.health(), 'ok')
    // Back to the store, which counted the late requests too (9 of them fit): strict, not loose.
    const after = await store.rate.consume('r', rule)
    assert.equal(modes.at(-1), 'rate/store')
    assert.equal(after.allowed, false)
    await lease.release()
  })

  test('a key Redis refused is refused locally, without a round trip, until the retry time it returned', async (t) => {
    // The over-limit cache runs on an injected clock, so the test decides when its retry time
    // has come; the period is long enough that Redis's own clock cannot free a unit meanwhile,
    // and the command timeout generous enough that no answer is decided locally on a busy host.
    const clock = createManualClock()
    const store = await createLimitStore(
      { redis: { url: server.url, keyPrefix: 'overlimit:', commandTimeout: 2000 } },
      { clock },
    )
    t.after(() => store.close())
    const redis = inspector(t, server)
    const rule: RateRule = { limit: 2, periodMs: 600_000 } // T = 300 s
    assert.equal((await store.rate.consume('k', rule)).allowed, true)
    assert.equal((await store.rate.consume('k', rule)).allowed, true)
    const refused = await store.rate.consume('k', rule)
    assert.equal(refused.allowed, false)
    assert.ok(refused.retryAfterMs > 0)
    const tat = await redis.get('overlimit:rate:k')
    const local = store.rate.consume('k', rule)
    assert.ok(!(local instanceof Promise), 'answered without asking Redis')
    assert.equal(local.allowed, false)
    assert.equal(local.retryAfterMs, refused.retryAfterMs, 'no local time has passed')
    // Just before the retry time it still answers alone, with the time left...
    clock.advance(refused.retryAfterMs - 1)
    const stillLocal = store.rate.consume('k', rule)
    assert.ok(!(stillLocal instanceof Promise), 'still answered without asking Redis')
    assert.equal(stillLocal.allowed, false)
    assert.ok(
      Math.abs(stillLocal.retryAfterMs - 1) < 1e-6,
      `1 ms left (${stillLocal.retryAfterMs})`,
    )
    assert.equal(await redis.get('overlimit:rate:k'), tat, 'Redis was not asked')
    // ...and from the retry time on, Redis decides again (here it refuses: its clock is real).
    clock.advance(1)
    const again = store.rate.consume('k', rule)
    assert.ok(again instanceof Promise, 'asked Redis again')
    assert.equal((await again).allowed, false)
    assert.equal(await redis.get('overlimit:rate:k'), tat, 'a refusal leaves the TAT alone')
  })

  test('past the retry time of a refusal the store admits again (the TAT only moves forward)', async (t) => {
    const store = await createLimitStore({
      redis: { url: server.url, keyPrefix: 'overlimit-real:', commandTimeout: 2000 },
    })
    t.after(() => store.close())
    const rule: RateRule = { limit: 1, periodMs: 1000 } // T = 1 s
    // Admit one, then ask until refused (on a stalled host a whole period may pass in between).
    let refused: RateDecision | undefined
    for (let i = 0; i < 5 && refused === undefined; i++) {
      const d = await store.rate.consume('k', rule)
      if (!d.allowed) refused = d
    }
    assert.ok(refused !== undefined, 'Redis refused a request over the limit')
    // Refused locally until the retry time: poll until the store is asked again, which the
    // cache allows only once Redis would admit too.
    const deadline = performance.now() + 10_000
    let next = store.rate.consume('k', rule)
    while (!(next instanceof Promise)) {
      assert.equal(next.allowed, false)
      assert.ok(performance.now() < deadline, 'the local refusal outlived its retry time')
      await sleep(10)
      next = store.rate.consume('k', rule)
    }
    assert.equal((await next).allowed, true)
  })

  test('a request that needs two leases (rq, cx) takes both in one script call', async (t) => {
    const { store } = await observedStore(t, server, 'pair:')
    const monitor = await inspector(t, server).monitor()
    t.after(() => monitor.disconnect())
    const calls: string[][] = []
    monitor.on('monitor', (_time: string, args: string[]) => {
      // MONITOR also lists the commands a script runs: only the script calls count here.
      const isScript = /^eval(sha)?$/i.test(args[0] ?? '')
      if (isScript && args.some((a) => a.startsWith('pair:conc:'))) calls.push(args)
    })
    const [rq, cx] = await store.concurrency.acquirePair(
      { key: 'rq:c', max: 5 },
      { key: 'cx:c', max: 5 },
      { leaseTtlMs: 5000 },
    )
    assert.ok(rq !== undefined && cx !== undefined)
    await waitFor('the call seen by MONITOR', () => calls.length > 0, 5000)
    assert.equal(calls.length, 1, 'one call for both leases')
    assert.ok(calls[0]!.includes('pair:conc:rq:c') && calls[0]!.includes('pair:conc:cx:c'))
    await rq.release()
    await cx.release()
  })

  test('membership: each replica is counted while it beats, and the share follows it', async (t) => {
    const sizes: number[] = []
    const ttl = 900
    const make = (events = {}) =>
      createLimitStore(
        { redis: { url: server.url, keyPrefix: 'members:', membershipTtlMs: ttl } },
        { events },
      )
    const a = await make({ onMembership: (n: number) => void sizes.push(n) })
    t.after(() => a.close())
    assert.deepEqual(sizes, [1], 'the first beat, at connect, counts this replica')
    const b = await make()
    const c = await make()
    await waitFor('3 members', () => sizes.at(-1) === 3, 3 * ttl)
    await c.close() // a clean stop leaves at once
    await waitFor('2 members', () => sizes.at(-1) === 2, 2 * ttl)
    await b.close()
    await waitFor('1 member', () => sizes.at(-1) === 1, 2 * ttl)
  })

  test('Redis restarted: counting resumes in Redis, nothing replayed, leases re-registered', async (t) => {
    const { store, transitions } = await observedStore(t, server, 'restart:')
    const redis = inspector(t, server)
    const rule: RateRule = { limit: 10, periodMs: 60_000 } // T = 6 s
    const leaseOpts = { leaseTtlMs: 2000 }
    for (let i = 0; i < 2; i++) assert.equal((await store.rate.consume('r', rule)).allowed, true)
    const before = [
      await store.concurrency.acquire('c', 10, leaseOpts),
      await store.concurrency.acquire('c', 10, leaseOpts),
    ]
    assert.equal(await redis.zcard('restart:conc:c'), 2)

    await server.kill('SIGKILL')
    for (let i = 0; i < 50; i++) await store.rate.consume('r', rule)
    const during = await store.concurrency.acquire('c', 10, leaseOpts)
    assert.ok(during !== undefined)
    assert.equal(store.health(), 'degraded')

    await server.restart()
    await waitFor('recovery', () => store.health() === 'ok', RECOVERY_TIMEOUT_MS)
    assert.deepEqual(transitions, ['degraded', 'ok'])
    // The restarted Redis is empty: nothing decided during the outage was replayed into it...
    assert.equal(await redis.exists('restart:rate:r'), 0)
    // ...and every lease this replica holds was put back before new admissions.
    assert.equal(await redis.zcard('restart:conc:c'), 3)
    assert.equal(await store.concurrency.count('c'), 3)

    for (let i = 0; i < 3; i++) {
      const d = await store.rate.consume('r', rule)
      assert.equal(d.allowed, true)
      assert.equal(d.remaining, 10 - 1 - i)
    }
    const tat = Number(await redis.get('restart:rate:r'))
    const [sec, usec] = (await redis.time()) as [number | string, number | string]
    const aheadUs = tat - (Number(sec) * 1e6 + Number(usec))
    assert.ok(aheadUs > 2 * 6e6 && aheadUs <= 3 * 6e6, `Redis holds 3 admissions (${aheadUs} µs)`)

    for (const lease of [...before, during]) await lease!.release()
    assert.equal(await redis.exists('restart:conc:c'), 0)
  })

  test('no queued command is replayed after Redis returns', async (t) => {
    const shared = createRedisLimitStore({
      url: server.url,
      keyPrefix: 'replay:',
      commandTimeout: COMMAND_TIMEOUT_MS,
    })
    t.after(() => shared.close())
    const redis = inspector(t, server)
    assert.equal(await shared.connect(), true)
    const rule: RateRule = { limit: 1000, periodMs: 60_000 }
    await shared.rate.consume('k', rule)

    await server.kill('SIGKILL')
    const failures = await Promise.all(
      Array.from({ length: 200 }, () =>
        timed(() =>
          Promise.resolve(shared.rate.consume('k', rule)).then(
            () => 'answered',
            () => 'failed',
          ),
        ),
      ),
    )
    for (const f of failures) {
      assert.equal(f.value, 'failed')
      assert.ok(f.ms <= COMMAND_TIMEOUT_MS + LATENCY_MARGIN_MS, `failed after ${f.ms} ms`)
    }
    await server.restart()
    await waitFor('reconnect', () => shared.health() === 'ok', RECOVERY_TIMEOUT_MS)
    await sleep(200)
    assert.equal(await redis.exists('replay:rate:k'), 0, 'no increment reached the new Redis')
  })

  test('memory does not grow while Redis is down', async (t) => {
    const { store } = await observedStore(t, server, 'heap:')
    t.after(() => server.restart())
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const rule: RateRule = { limit: 100, periodMs: 1000 }
    await server.kill('SIGKILL')
    await store.rate.consume('warm-up', rule)
    gc()
    const baseline = process.memoryUsage().heapUsed
    for (let batch = 0; batch < 50; batch++) {
      await Promise.all(
        Array.from({ length: 1000 }, (_, i) =>
          Promise.resolve(store.rate.consume(`k${i % 50}`, rule)),
        ),
      )
    }
    gc()
    const grownMb = (process.memoryUsage().heapUsed - baseline) / 2 ** 20
    assert.ok(grownMb < 10, `heap grew ${grownMb.toFixed(1)} MB over 50 000 decisions`)
  })

  test('Redis down at startup: the store starts degraded and joins Redis when it appears', async (t) => {
    await server.kill('SIGKILL')
    t.after(() => server.restart())
    const transitions: LimitStoreHealth[] = []
    const warnings: string[] = []
    const { value: store, ms } = await timed(() =>
      createLimitStore(
        { redis: { url: server.url, keyPrefix: 'startup:', connectTimeout: 200 } },
        {
          logger: createLogger({ level: 'warn', write: (l) => void warnings.push(l) }),
          events: { onHealthChange: (h) => void transitions.push(h) },
        },
      ),
    )
    t.after(() => store.close())
    assert.ok(ms <= 2 * 200 + LATENCY_MARGIN_MS, `startup waited ${ms} ms`)
    assert.equal(store.health(), 'degraded')
    assert.equal(warnings.filter((l) => l.includes('unreachable at startup')).length, 1)
    assert.equal((await store.rate.consume('k', { limit: 1, periodMs: 60_000 })).allowed, true)

    await server.restart()
    await waitFor('recovery', () => store.health() === 'ok', RECOVERY_TIMEOUT_MS)
    assert.deepEqual(transitions, ['ok'])
    const redis = inspector(t, server)
    await store.rate.consume('k', { limit: 1, periodMs: 60_000 })
    assert.equal(await redis.exists('startup:rate:k'), 1)
  })

  test('every key Redis holds has a TTL', async (t) => {
    const { store } = await observedStore(t, server, 'ttl:')
    const redis = inspector(t, server)
    for (let i = 0; i < 20; i++) {
      await store.rate.consume(`rate-${i}`, { limit: 3, periodMs: 1000 * (i + 1) }, i % 3)
    }
    const held = []
    for (let i = 0; i < 10; i++) {
      held.push(await store.concurrency.acquire(`conc-${i % 4}`, 5, { leaseTtlMs: 5000 + i }))
    }
    for (const lease of held.slice(0, 5)) await lease!.release()
    const keys: string[] = []
    let cursor = '0'
    for (let page = 0; page < 1000; page++) {
      const [next, found] = await redis.scan(cursor, 'COUNT', 500)
      keys.push(...found)
      cursor = next
      if (cursor === '0') break
    }
    assert.ok(keys.some((k) => k.startsWith('ttl:rate:')))
    assert.ok(keys.some((k) => k.startsWith('ttl:conc:')))
    for (const key of keys) {
      const ttl = await redis.pttl(key)
      assert.ok(ttl > 0, `${key} has no TTL (${ttl})`)
    }
  })
})
