/**
 * The behaviour every limit store promises, run against each adapter (limits-memory.test.ts,
 * limits-redis.test.ts). Several store instances from one subject share state, the way replicas
 * share Redis. Time is either a manual clock (exact assertions) or real time (Redis; small periods,
 * every wait bounded, assertions allow for the time that really passed).
 */
import assert from 'node:assert/strict'
import { describe, test, type TestContext } from 'node:test'
import type { LimitStore, RateDecision, RateRule } from '../../src/state/index.js'

export interface LimitContractSubject {
  /** A new store instance over this subject's shared state (another replica). */
  makeStore(): Promise<LimitStore>
  /** Moves the limiters' time on: a manual clock (instant) or a real wait. */
  advance(ms: number): Promise<void>
  /** True for a manual clock: nothing moves unless `advance` is called. */
  readonly manualTime: boolean
}

/** Called once per test case; each case gets fresh state. */
export type MakeLimitSubject = (t: TestContext) => Promise<LimitContractSubject>

/** A test-local random sequence (reproducible; xorshift32). */
function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x / 0x1_0000_0000
  }
}

/** consume() as a promise, whichever way the store answers. */
function consume(store: LimitStore, key: string, rule: RateRule, cost?: number) {
  return Promise.resolve(store.rate.consume(key, rule, cost))
}

/** Wall time in ms, for bounding what real-time runs may have seen. */
const wall = () => performance.now()

/** Stores made in a test, closed when it ends. */
async function stores(t: TestContext, subject: LimitContractSubject, n: number) {
  const made: LimitStore[] = []
  t.after(() => Promise.all(made.map((s) => s.close())))
  for (let i = 0; i < n; i++) made.push(await subject.makeStore())
  return made
}

/** `actual` lies in [expected − slack, expected] (real time only moves values down). */
function assertNear(actual: number, expected: number, slack: number, what: string): void {
  assert.ok(
    actual <= expected + 0.001 && actual >= expected - slack - 0.001,
    `${what}: ${actual} not within [${expected - slack}, ${expected}]`,
  )
}

/** Polls `count(key)` until it is `expected`, for at most 5 s. */
async function countReaches(store: LimitStore, key: string, expected: number): Promise<void> {
  const deadline = wall() + 5000
  let seen = await store.concurrency.count(key)
  while (seen !== expected) {
    assert.ok(wall() < deadline, `count(${key}) is ${seen}, not ${expected}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
    seen = await store.concurrency.count(key)
  }
}

export function runLimitContract(name: string, makeSubject: MakeLimitSubject): void {
  describe(`${name}: rate limits (GCRA, burst = limit)`, () => {
    test('a burst of concurrent consumes admits exactly limit', async (t) => {
      const subject = await makeSubject(t)
      const replicas = await stores(t, subject, 3)
      const rule: RateRule = { limit: 10, periodMs: 60_000 }
      const decisions = await Promise.all(
        Array.from({ length: 50 }, (_, i) => consume(replicas[i % 3]!, 'burst', rule)),
      )
      assert.equal(decisions.filter((d) => d.allowed).length, 10)
      for (const d of decisions) {
        assert.equal(d.error, false)
        assert.equal(d.limit, 10)
        if (!d.allowed) assert.ok(d.retryAfterMs > 0 && d.retryAfterMs <= 6000)
      }
    })

    test('after period/limit one more is admitted, and only one', async (t) => {
      const subject = await makeSubject(t)
      const [store] = await stores(t, subject, 1)
      const rule: RateRule = { limit: 5, periodMs: 5000 } // one unit per 1000 ms
      for (let i = 0; i < 5; i++)
        assert.equal((await store!.rate.consume('refill', rule)).allowed, true)
      const refused = await store!.rate.consume('refill', rule)
      assert.equal(refused.allowed, false)
      assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= 1000)
      await subject.advance(subject.manualTime ? refused.retryAfterMs : refused.retryAfterMs + 20)
      const next = [
        await store!.rate.consume('refill', rule),
        await store!.rate.consume('refill', rule),
        await store!.rate.consume('refill', rule),
      ]
      assert.deepEqual(
        next.map((d) => d.allowed),
        [true, false, false],
      )
    })

    test('remaining, reset and retry-after describe the bucket', async (t) => {
      const subject = await makeSubject(t)
      const [store] = await stores(t, subject, 1)
      const rule: RateRule = { limit: 4, periodMs: 2000 } // T = 500 ms
      const start = wall()
      const seen: RateDecision[] = []
      for (let i = 0; i < 5; i++) seen.push(await store!.rate.consume('headers', rule))
      // Real time moves every value down by at most the time spent so far.
      const slack = subject.manualTime ? 0 : wall() - start + 1
      for (let i = 0; i < 4; i++) {
        const d = seen[i]!
        assert.equal(d.allowed, true)
        assert.equal(d.remaining, 3 - i)
        assertNear(d.resetMs, 500 * (i + 1), slack, `reset after ${i + 1}`)
        assert.equal(d.retryAfterMs, 0)
      }
      const refused = seen[4]!
      assert.equal(refused.allowed, false)
      assert.equal(refused.error, false)
      assert.equal(refused.remaining, 0)
      assertNear(refused.resetMs, 2000, slack, 'reset when refused')
      assertNear(refused.retryAfterMs, 500, slack, 'retry-after when refused')

      const beforeWait = wall()
      await subject.advance(250)
      const waited = subject.manualTime ? 250 : wall() - beforeWait
      const later = await store!.rate.consume('headers', rule)
      const laterSlack = subject.manualTime ? 0 : wall() - start + 1
      assert.equal(later.allowed, false)
      assertNear(later.retryAfterMs, refused.retryAfterMs - waited, laterSlack, 'retry-after later')

      // A cost above what is left is refused whole; a smaller one fits.
      await subject.advance(1000)
      const big = await store!.rate.consume('headers', rule, 3)
      assert.equal(big.allowed, false)
      assert.ok(big.retryAfterMs > 0 && big.retryAfterMs <= 500)
      const two = await store!.rate.consume('headers', rule, 2)
      assert.equal(two.allowed, true)
      assert.equal(two.remaining, 0)
      const tooBig = await store!.rate.consume('headers', rule, 5)
      assert.equal(tooBig.allowed, false, 'a cost above the limit never fits')
    })

    test('keys are independent', async (t) => {
      const subject = await makeSubject(t)
      const [a, b] = await stores(t, subject, 2)
      const small: RateRule = { limit: 2, periodMs: 60_000 }
      const large: RateRule = { limit: 5, periodMs: 60_000 }
      const admitted = async (store: LimitStore, key: string, rule: RateRule, n: number) => {
        let count = 0
        for (let i = 0; i < n; i++) if ((await store.rate.consume(key, rule)).allowed) count++
        return count
      }
      assert.equal(await admitted(a!, 'client-1', small, 5), 2)
      assert.equal(await admitted(b!, 'client-2', small, 5), 2)
      assert.equal(await admitted(a!, 'client-3', large, 8), 5)
      assert.equal(await admitted(b!, 'client-1', small, 1), 0, 'client-1 is shared by replicas')
    })

    test('admission bound: any window of W ms admits at most limit + floor(W / T)', async (t) => {
      const subject = await makeSubject(t)
      const replicas = await stores(t, subject, 2)
      const random = seeded(0x5eed)
      // Each admitted request with the interval in which the store could have decided it.
      const admitted: { from: number; to: number; cost: number }[] = []
      let rule: RateRule
      if (subject.manualTime) {
        rule = { limit: 10, periodMs: 1000 } // T = 100 ms
        // Random arrivals and costs over 5 s, densest in bursts.
        let now = 0
        for (let i = 0; i < 4000 && now < 5000; i++) {
          const step = random() < 0.1 ? Math.floor(random() * 60) : Math.floor(random() * 3)
          await subject.advance(step)
          now += step
          const cost = random() < 0.2 ? 2 : 1
          const d = await replicas[i % 2]!.rate.consume('sliding', rule, cost)
          if (d.allowed) admitted.push({ from: now, to: now, cost })
        }
      } else {
        rule = { limit: 5, periodMs: 500 } // T = 100 ms
        const end = wall() + 1200
        for (let i = 0; i < 2000 && wall() < end; i++) {
          const from = wall()
          const d = await replicas[i % 2]!.rate.consume('sliding', rule)
          const to = wall()
          if (d.allowed) admitted.push({ from, to, cost: 1 })
          await subject.advance(2)
        }
      }
      const T = rule.periodMs / rule.limit
      assert.ok(admitted.length > rule.limit, 'refills happened during the run')
      // Every window between two admissions: admitted units ≤ limit + floor(longest span / T).
      for (let i = 0; i < admitted.length; i++) {
        let units = 0
        for (let j = i; j < admitted.length; j++) {
          units += admitted[j]!.cost
          const span = admitted[j]!.to - admitted[i]!.from
          assert.ok(
            units <= rule.limit + Math.floor(span / T),
            `${units} units admitted within ${span.toFixed(1)} ms (bound ${rule.limit + Math.floor(span / T)})`,
          )
        }
      }
    })

    test('the bound is reached under constant pressure from a fresh key', async (t) => {
      const subject = await makeSubject(t)
      const [store] = await stores(t, subject, 1)
      const rule: RateRule = { limit: 5, periodMs: 1000 } // T = 200 ms
      let admitted = 0
      const start = wall()
      if (subject.manualTime) {
        // One request per ms over [0, 2000]: 5 at once, then one every 200 ms.
        for (let ms = 0; ms <= 2000; ms++) {
          if ((await store!.rate.consume('pressure', rule)).allowed) admitted++
          await subject.advance(1)
        }
        assert.equal(admitted, 5 + 2000 / 200)
      } else {
        const end = start + 1000
        while (wall() < end) {
          if ((await store!.rate.consume('pressure', rule)).allowed) admitted++
          await subject.advance(5)
        }
        const elapsed = wall() - start
        assert.ok(admitted <= 5 + Math.floor(elapsed / 200), `${admitted} in ${elapsed} ms`)
        // Requests every ~5 ms leave at most one refill unused at the end of the run.
        assert.ok(
          admitted >= 5 + Math.floor((end - start) / 200) - 1,
          `${admitted} in ${elapsed} ms`,
        )
      }
    })

    test('three replicas, limit 100, 1 000 requests: exactly 100 admitted (10 runs)', async (t) => {
      const subject = await makeSubject(t)
      const replicas = await stores(t, subject, 3)
      const rule: RateRule = { limit: 100, periodMs: 3_600_000 }
      for (let run = 0; run < 10; run++) {
        let admitted = 0
        // 50 requests in flight at a time, round-robin over the replicas.
        for (let wave = 0; wave < 20; wave++) {
          const decisions = await Promise.all(
            Array.from({ length: 50 }, (_, i) =>
              consume(replicas[(wave * 50 + i) % 3]!, `exact-${run}`, rule),
            ),
          )
          admitted += decisions.filter((d) => d.allowed).length
        }
        assert.equal(admitted, 100, `run ${run}`)
      }
    })
  })

  describe(`${name}: concurrency leases`, () => {
    const opts = { leaseTtlMs: 300 }

    test('100 concurrent acquires never exceed max', async (t) => {
      const subject = await makeSubject(t)
      const replicas = await stores(t, subject, 3)
      const leases = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          replicas[i % 3]!.concurrency.acquire('conns', 10, opts),
        ),
      )
      const held = leases.filter((l) => l !== undefined)
      assert.equal(held.length, 10)
      assert.equal(await replicas[0]!.concurrency.count('conns'), 10)
      await Promise.all(held.map((l) => l.release()))
      assert.equal(await replicas[1]!.concurrency.count('conns'), 0)
    })

    test('release frees a slot; double release is harmless; counts never go negative', async (t) => {
      const subject = await makeSubject(t)
      const [a, b] = await stores(t, subject, 2)
      const held = [
        await a!.concurrency.acquire('slots', 3, opts),
        await b!.concurrency.acquire('slots', 3, opts),
        await a!.concurrency.acquire('slots', 3, opts),
      ]
      assert.ok(held.every((l) => l !== undefined))
      assert.equal(await b!.concurrency.acquire('slots', 3, opts), undefined, 'full')
      await held[0]!.release()
      await held[0]!.release()
      assert.equal(await a!.concurrency.count('slots'), 2, 'a second release frees nothing more')
      const again = await b!.concurrency.acquire('slots', 3, opts)
      assert.ok(again !== undefined, 'the released slot is free again')
      assert.equal(await b!.concurrency.acquire('slots', 3, opts), undefined)
      for (const l of [...held, again]) {
        await l?.release()
        await l?.release()
      }
      assert.equal(await a!.concurrency.count('slots'), 0)
      assert.equal(await b!.concurrency.count('never-used'), 0)
      assert.equal(await a!.concurrency.acquire('zero', 0, opts), undefined, 'max 0 admits nothing')
    })

    test('a pair: the second lease only when the first was acquired, each under its max', async (t) => {
      const subject = await makeSubject(t)
      const [a, b] = await stores(t, subject, 2)
      const rq = { key: 'pair-rq', max: 2 }
      const cx = { key: 'pair-cx', max: 1 }
      const both = await a!.concurrency.acquirePair(rq, cx, opts)
      assert.ok(both[0] !== undefined && both[1] !== undefined, 'both free: both taken')
      const firstOnly = await b!.concurrency.acquirePair(rq, cx, opts)
      assert.ok(firstOnly[0] !== undefined, 'rq has room')
      assert.equal(firstOnly[1], undefined, 'cx is full')
      const none = await a!.concurrency.acquirePair(rq, cx, opts)
      assert.deepEqual(none, [undefined, undefined], 'rq full: cx is not tried')
      assert.equal(await a!.concurrency.count('pair-rq'), 2)
      assert.equal(await b!.concurrency.count('pair-cx'), 1)
      for (const l of [...both, ...firstOnly]) await l?.release()
      // Releases of two replicas may reach a shared store in either order (IPC: two channels).
      await countReaches(a!, 'pair-rq', 0)
      await countReaches(a!, 'pair-cx', 0)

      // Concurrent pairs from both replicas: neither max is ever exceeded, and no second lease
      // is held without its first.
      const pairs = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          (i % 2 === 0 ? a! : b!).concurrency.acquirePair(
            { key: 'pair-rq', max: 10 },
            { key: 'pair-cx', max: 4 },
            opts,
          ),
        ),
      )
      assert.equal(pairs.filter((p) => p[0] !== undefined).length, 10)
      assert.equal(pairs.filter((p) => p[1] !== undefined).length, 4)
      assert.ok(pairs.every((p) => p[1] === undefined || p[0] !== undefined))
      for (const p of pairs) for (const l of p) await l?.release()
      await countReaches(b!, 'pair-rq', 0)
      await countReaches(b!, 'pair-cx', 0)
    })

    test('under churn from three replicas the count stays within [0, max]', async (t) => {
      const subject = await makeSubject(t)
      const replicas = await stores(t, subject, 3)
      const max = 5
      let inUse = 0
      let peak = 0
      let granted = 0
      const samples: number[] = []
      const random = seeded(42)
      const worker = async (w: number) => {
        for (let i = 0; i < 15; i++) {
          const lease = await replicas[w % 3]!.concurrency.acquire('churn', max, opts)
          if (lease === undefined) continue
          granted++
          inUse++
          peak = Math.max(peak, inUse)
          if (random() < 0.3) samples.push(await replicas[(w + 1) % 3]!.concurrency.count('churn'))
          if (!subject.manualTime) await subject.advance(Math.floor(random() * 3))
          inUse--
          await lease.release()
        }
      }
      await Promise.all(Array.from({ length: 20 }, (_, w) => worker(w)))
      assert.ok(granted > max, `slots were reused (${granted} grants)`)
      assert.ok(peak <= max, `peak ${peak} > ${max}`)
      for (const s of samples) assert.ok(s >= 0 && s <= max, `sampled count ${s}`)
      assert.equal(await replicas[0]!.concurrency.count('churn'), 0)
    })

    test('held leases stay alive past their TTL while the holder heartbeats', async (t) => {
      const subject = await makeSubject(t)
      const [holder, other] = await stores(t, subject, 2)
      const a = await holder!.concurrency.acquire('kept', 2, opts)
      const b = await holder!.concurrency.acquire('kept', 2, opts)
      assert.ok(a !== undefined && b !== undefined)
      await subject.advance(opts.leaseTtlMs * 3)
      assert.equal(await other!.concurrency.count('kept'), 2)
      assert.equal(await other!.concurrency.acquire('kept', 2, opts), undefined)
      await a.release()
      assert.ok((await other!.concurrency.acquire('kept', 2, opts)) !== undefined)
    })

    test('leases of a holder that stops heartbeating expire after their TTL', async (t) => {
      const subject = await makeSubject(t)
      const [survivor] = await stores(t, subject, 1)
      const crashed = await subject.makeStore()
      // The survivor's own lease keeps the limit's key alive: the others must expire one by one.
      const kept = await survivor!.concurrency.acquire('orphaned', 4, opts)
      assert.ok(kept !== undefined)
      for (let i = 0; i < 3; i++) {
        assert.ok((await crashed.concurrency.acquire('orphaned', 4, opts)) !== undefined)
      }
      // Closing stops the heartbeat and releases nothing, as when the process dies.
      await crashed.close()
      assert.equal(await survivor!.concurrency.acquire('orphaned', 4, opts), undefined)
      await subject.advance(opts.leaseTtlMs + (subject.manualTime ? 1 : 100))
      assert.equal(await survivor!.concurrency.count('orphaned'), 1)
      const regained = await Promise.all(
        [1, 2, 3, 4].map(() => survivor!.concurrency.acquire('orphaned', 4, opts)),
      )
      assert.equal(regained.filter((l) => l !== undefined).length, 3)
      assert.equal(await survivor!.concurrency.count('orphaned'), 4)
    })
  })
}
