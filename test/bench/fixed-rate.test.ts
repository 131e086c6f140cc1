// The fixed-rate load client of the bench (bench/fixed-rate.ts): its schedule, its percentiles,
// and one short run against a loopback server whose answer time is known.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { runFixedRate } from '../../bench/fixed-rate.js'
import {
  dueAtNs,
  nsUntilNext,
  percentile,
  sendsDue,
  summarizeMicros,
  takeFromWindow,
} from '../../bench/fixed-rate-stats.js'

const MS = 1_000_000n

describe('fixed-rate schedule', () => {
  test('1 000 req/s: one request due every millisecond from the start', () => {
    assert.equal(dueAtNs(0n, 1000, 0), 0n)
    assert.equal(dueAtNs(5n, 1000, 3), 5n + 3n * MS)
    assert.equal(dueAtNs(0n, 3, 1), 333_333_333n)
  })

  test('sends what is due on time, one at a time', () => {
    assert.equal(sendsDue(0n, 1000, 0, 10, 0n, 4), 1)
    assert.equal(sendsDue(0n, 1000, 1, 10, 999_999n, 4), 0)
    assert.equal(sendsDue(0n, 1000, 1, 10, MS, 4), 1)
    assert.equal(nsUntilNext(0n, 1000, 2, 10, MS + 250_000n), 750_000)
    assert.equal(nsUntilNext(0n, 1000, 2, 10, 3n * MS), 0)
  })

  test('a late loop catches up at most maxBurst per turn, and never past the total', () => {
    // 20 ms late with nothing sent: 21 are due, 4 go now.
    assert.equal(sendsDue(0n, 1000, 0, 100, 20n * MS, 4), 4)
    assert.equal(sendsDue(0n, 1000, 18, 100, 20n * MS, 4), 3)
    assert.equal(sendsDue(0n, 1000, 8, 10, 20n * MS, 4), 2)
    assert.equal(sendsDue(0n, 1000, 10, 10, 20n * MS, 4), 0)
    // Before the start nothing is due.
    assert.equal(sendsDue(10n * MS, 1000, 0, 10, 0n, 4), 0)
  })

  test('calls in the same millisecond share one burst allowance', () => {
    const window = { startNs: -MS, sent: 0 }
    assert.equal(takeFromWindow(window, 0n, 3, 1000, 4), 3)
    assert.equal(takeFromWindow(window, 100_000n, 3, 1000, 4), 1)
    assert.equal(takeFromWindow(window, 999_999n, 3, 1000, 4), 0)
    assert.equal(takeFromWindow(window, MS, 3, 1000, 4), 3)
    // At 10 000 req/s the schedule itself is 10 a millisecond.
    assert.equal(takeFromWindow({ startNs: -MS, sent: 0 }, 0n, 12, 10_000, 4), 10)
  })
})

describe('fixed-rate percentiles', () => {
  test('nearest rank', () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1)
    assert.equal(percentile(sorted, 50), 50)
    assert.equal(percentile(sorted, 99), 99)
    assert.equal(percentile(sorted, 100), 100)
    assert.equal(percentile(Float64Array.of(7), 99), 7)
    assert.ok(Number.isNaN(percentile(new Float64Array(0), 50)))
  })

  test('microseconds in, milliseconds to 0.01 out, whatever the input order', () => {
    const micros = Float64Array.from([
      2_345, 410, 1_004, 998, 12_500, 999, 1_001, 1_002, 1_003, 997,
    ])
    const s = summarizeMicros(micros)
    assert.deepEqual(s, { p50Ms: 1, p90Ms: 2.35, p99Ms: 12.5, maxMs: 12.5 })
    // 0.5 ms apart is visible: what whole milliseconds could not show.
    const a = summarizeMicros(Float64Array.from({ length: 1000 }, () => 1_020))
    const b = summarizeMicros(Float64Array.from({ length: 1000 }, () => 1_520))
    assert.equal(b.p50Ms - a.p50Ms, 0.5)
  })
})

describe('fixed-rate client against a loopback server', () => {
  test('offers the rate, and measures the answer time from the schedule', async () => {
    const delayMs = 3
    let served = 0
    const server = createServer((req, res) => {
      served++
      req.resume()
      setTimeout(() => res.end('ok'), delayMs)
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const { port } = server.address() as AddressInfo
    try {
      const r = await runFixedRate([
        `--url=http://127.0.0.1:${port}/`,
        '--rate=200',
        '--duration=1',
        '--connections=8',
        '--warmup=0',
      ])
      assert.equal(r.sent, 200)
      assert.equal(r.answered, 200)
      assert.equal(r.errors + r.timeouts + r.non2xx, 0)
      // 200 measured plus one warm-up request per connection.
      assert.equal(served, 208)
      assert.ok(r.achievedRate >= 180 && r.achievedRate <= 201, `achieved ${r.achievedRate}`)
      assert.ok(r.p50Ms >= delayMs, `p50 ${r.p50Ms} ms below the server's ${delayMs} ms`)
      assert.ok(r.p50Ms <= r.p90Ms && r.p90Ms <= r.p99Ms && r.p99Ms <= r.maxMs)
      assert.ok(r.p50Ms < 100, `p50 ${r.p50Ms} ms`)
      assert.ok(Math.abs(r.p50Ms * 100 - Math.round(r.p50Ms * 100)) < 1e-6, `${r.p50Ms}`)
    } finally {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    }
  })
})
