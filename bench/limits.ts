/**
 * Cost of one limit decision: the in-memory store against Redis (a redis-server this script
 * starts on a free loopback port, or REDIS_URL). Not part of the test suite.
 * Run: node --import tsx bench/limits.ts [--duration=3]
 *
 * For each store it reports decisions per second with 1 and with 64 decisions in flight, and the
 * p50/p99 latency of a single decision (one in flight, then 64 in flight), for rate consumes and
 * for concurrency acquire+release pairs. Numbers compare stores within one run on one machine.
 */
import { createLimitStore, type LimitStore, type RateRule } from '../src/state/index.js'
import { startRedisServer, type RedisServer } from '../test/support/redis-server.js'

const durationArg = process.argv.find((a) => a.startsWith('--duration='))
const DURATION_MS = Number(durationArg?.split('=')[1] ?? process.env['BENCH_DURATION'] ?? 3) * 1000
const KEYS = 1000
const RULE: RateRule = { limit: 1_000_000, periodMs: 1000 }

interface Row {
  store: string
  operation: string
  inFlight: number
  perSecond: number
  p50Us: number
  p99Us: number
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
}

/** Runs `op` with `inFlight` concurrent loops for DURATION_MS; latency of every call, in µs. */
async function measure(
  store: string,
  operation: string,
  inFlight: number,
  op: (i: number) => unknown,
): Promise<Row> {
  const samples: number[] = []
  const end = performance.now() + DURATION_MS
  let count = 0
  const loop = async (worker: number) => {
    for (let i = worker; performance.now() < end; i += inFlight) {
      // Batches of synchronous answers still yield, so timers and I/O keep running.
      if (i % 4096 === worker) await new Promise((resolve) => setImmediate(resolve))
      const start = performance.now()
      await op(i)
      samples.push((performance.now() - start) * 1000)
      count++
    }
  }
  const start = performance.now()
  await Promise.all(Array.from({ length: inFlight }, (_, w) => loop(w)))
  const elapsed = performance.now() - start
  const sorted = Float64Array.from(samples).sort()
  return {
    store,
    operation,
    inFlight,
    perSecond: Math.round((count / elapsed) * 1000),
    p50Us: percentile(sorted, 0.5),
    p99Us: percentile(sorted, 0.99),
  }
}

async function benchStore(name: string, store: LimitStore): Promise<Row[]> {
  const rows: Row[] = []
  for (const inFlight of [1, 64]) {
    rows.push(
      await measure(name, 'rate consume', inFlight, (i) =>
        store.rate.consume(`bench-${i % KEYS}`, RULE),
      ),
    )
  }
  for (const inFlight of [1, 64]) {
    rows.push(
      await measure(name, 'lease acquire+release', inFlight, async (i) => {
        const lease = await store.concurrency.acquire(`bench-${i % KEYS}`, 1_000_000, {
          leaseTtlMs: 10_000,
        })
        await lease?.release()
      }),
    )
  }
  return rows
}

function print(rows: Row[]): void {
  const header = ['store', 'operation', 'in flight', 'decisions/s', 'p50 µs', 'p99 µs']
  const lines = rows.map((r) => [
    r.store,
    r.operation,
    String(r.inFlight),
    r.perSecond.toLocaleString('en-US'),
    r.p50Us.toFixed(1),
    r.p99Us.toFixed(1),
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)))
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ')
  console.log(fmt(header))
  for (const l of lines) console.log(fmt(l))
}

async function main(): Promise<void> {
  let server: RedisServer | undefined
  const url = process.env['REDIS_URL'] ?? (server = await startRedisServer()).url
  try {
    const rows: Row[] = []
    const memory = await createLimitStore({})
    rows.push(...(await benchStore('memory', memory)))
    await memory.close()
    // Decisions Redis did not answer in time fall back to the local limiter; count them, since
    // they would make Redis look faster than it is.
    let local = 0
    let outages = 0
    const redis = await createLimitStore(
      { redis: { url, keyPrefix: `bench-${process.pid}:` } },
      {
        events: {
          onDecisionWithoutStore: () => {
            local++
          },
          onHealthChange: (h) => {
            if (h === 'degraded') outages++
          },
        },
      },
    )
    if (redis.health() !== 'ok') throw new Error(`Redis at ${url} did not answer`)
    rows.push(...(await benchStore('redis', redis)))
    await redis.close()
    console.log(`node ${process.version}, ${DURATION_MS / 1000} s per row, redis ${url}`)
    print(rows)
    console.log(`redis: ${outages} timeouts/outages, ${local} decisions made locally instead`)
  } finally {
    await server?.stop()
  }
}

await main()
