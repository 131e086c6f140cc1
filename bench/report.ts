// Formats benchmark results as a plain-text table plus Portcullis's ratios to the baselines.
import type { LoadResult } from './load.js'
import type { Target } from './options.js'
import { median, pairsByRound } from './rounds.js'

export interface TargetResult {
  target: Target
  description: string
  load?: LoadResult
  // The same target at a fixed request rate (latency at a given load, not at saturation).
  fixedRate?: LoadResult & { readonly rate: number }
  // CPU used by the process under test during the measured run, in % of one core.
  cpuPercent?: number
  rssMb?: number
  /** The process's resident-memory high-water mark (VmHWM) after the measured run. */
  peakRssMb?: number
  /** Resident memory once started and answering, before any load. */
  idleRssMb?: number
  /** Set when the measured run itself was at a fixed rate (requests/s offered). */
  offeredRate?: number
  /** The Redis-backed targets: what redis-server did during the measured run. */
  redis?: {
    /** redis-server's CPU per request, µs (it runs on the load generator's CPU). */
    readonly cpuMicrosPerRequest?: number
    /** Requests per batch script call (EVALSHA/EVAL): how many share a round trip. */
    readonly requestsPerCall?: number
  }
  /** Which pass over the target list (from 1) this is, with --repeat. */
  round: number
  error?: string
}

function fixed(value: number | undefined, digits: number): string {
  return value === undefined ? '-' : value.toFixed(digits)
}

export function formatTable(results: TargetResult[]): string {
  const header = [
    'target',
    'req/s',
    'p50 ms',
    'p99 ms',
    'errors',
    'non-2xx',
    'cpu %',
    'cpu µs/req',
    'rss MB',
    'peak MB',
    'idle MB',
  ]
  const rows = results.map((r) => {
    const label = r.round > 1 ? `${r.target} #${r.round}` : r.target
    if (!r.load) return [label, 'FAILED', '', '', '', '', '', '', '', '', '']
    return [
      label,
      fixed(r.load.requestsPerSecond, 0),
      fixed(r.load.latencyP50Ms, 1),
      fixed(r.load.latencyP99Ms, 1),
      String(r.load.errors + r.load.timeouts),
      String(r.load.non2xx),
      fixed(r.cpuPercent, 0),
      fixed(cpuMicrosPerRequest(r), 0),
      fixed(r.rssMb, 0),
      fixed(r.peakRssMb, 0),
      fixed(r.idleRssMb, 0),
    ]
  })
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
  return [line(header), ...rows.map(line)].join('\n')
}

/**
 * CPU time the process under test spent per request. On a shared, noisy machine this is the
 * steadier comparison: throughput depends on how much CPU the process was given, CPU per request
 * much less so.
 */
export function cpuMicrosPerRequest(r: TargetResult): number | undefined {
  if (r.cpuPercent === undefined || !r.load || r.load.requestsPerSecond === 0) return undefined
  return (r.cpuPercent / 100 / r.load.requestsPerSecond) * 1e6
}

function ratio(a: LoadResult, b: LoadResult): string {
  const throughput = a.requestsPerSecond / b.requestsPerSecond
  const p99 = b.latencyP99Ms === 0 ? '-' : (a.latencyP99Ms / b.latencyP99Ms).toFixed(2)
  return `${throughput.toFixed(2)}x the req/s, ${p99}x the p99`
}

export function formatRatios(results: TargetResult[]): string[] {
  const find = (t: Target): LoadResult | undefined => results.find((r) => r.target === t)?.load
  const portcullis = find('portcullis')
  if (!portcullis) return []
  const lines: string[] = []
  const floor = find('floor')
  const direct = find('direct')
  if (floor) lines.push(`Portcullis vs Node floor: ${ratio(portcullis, floor)}`)
  const cpuP = cpuMicrosPerRequest(results.find((r) => r.target === 'portcullis')!)
  const cpuF = results.find((r) => r.target === 'floor')
  const cpuFloor = cpuF ? cpuMicrosPerRequest(cpuF) : undefined
  if (cpuP !== undefined && cpuFloor !== undefined) {
    lines.push(
      `CPU per request: the floor's is ${(cpuFloor / cpuP).toFixed(2)}x Portcullis's (1.00 = parity; the req/s ratio a saturated core would give)`,
    )
  }
  if (direct) lines.push(`Portcullis vs direct:     ${ratio(portcullis, direct)}`)
  return lines
}

/** What a limit adds: each pair is (the target without it, the target with it). */
const LIMIT_PAIRS: readonly (readonly [Target, Target, string])[] = [
  ['portcullis', 'portcullis-redis-limit', 'Redis rate limit (never hit) vs none'],
  ['portcullis', 'portcullis-pool-limit', 'Redis connectionPool lease vs none'],
  [
    'portcullis-workers',
    'portcullis-workers-limit',
    'workers: 2, rate limit in the primary vs none',
  ],
]

/**
 * Bounds for a Redis-backed limit that is never hit, at 1 000 req/s against no limit: the added
 * p50 and p99 a user may see (issue #15).
 */
const REDIS_LATENCY_BOUND = { rate: 1000, p50Ms: 0.5, p99Ms: 2 } as const

/**
 * What each limit adds, within each round (with --repeat, also the median over the rounds): the
 * closed loop's req/s ratio and latencies, the fixed-rate run's added p50 and p99 (measured to
 * 0.01 ms by bench/fixed-rate.ts) and the gateway's CPU per request.
 */
export function formatLimitCost(results: TargetResult[]): string[] {
  const lines: string[] = []
  const signed = (v: number, digits: number): string => `${v >= 0 ? '+' : ''}${v.toFixed(digits)}`
  for (const [baseName, limitedName, what] of LIMIT_PAIRS) {
    const rounds = pairsByRound(results, baseName, limitedName)
    const ratios: number[] = []
    const dp50: number[] = []
    const dp99: number[] = []
    const isRedis = limitedName.includes('redis') || limitedName.includes('pool')
    // The load client's own lateness is in every latency it reports: when its 99th percentile
    // send lag exceeds the p99 bound, a difference that small cannot be read from the run.
    let worstLagMs = 0
    const verdict = (rate: number, p50: number, p99: number): string => {
      const b = REDIS_LATENCY_BOUND
      if (!isRedis || rate !== b.rate) return ''
      const head = ` (bound p50 +${b.p50Ms}, p99 +${b.p99Ms} ms: `
      if (worstLagMs > b.p99Ms) {
        return `${head}NOT VALID, the load client sent up to ${worstLagMs.toFixed(2)} ms late at p99)`
      }
      return `${head}${p50 <= b.p50Ms && p99 <= b.p99Ms ? 'ok' : 'MISSED'})`
    }
    let rate = 0
    for (const { round, a: base, b: limited } of rounds) {
      const a = base.load!
      const b = limited.load!
      const tag = rounds.length > 1 ? ` (round ${round})` : ''
      ratios.push(b.requestsPerSecond / a.requestsPerSecond)
      lines.push(
        `${what}${tag}: ${(b.requestsPerSecond / a.requestsPerSecond).toFixed(2)}x the req/s ` +
          `(${signed(b.requestsPerSecond - a.requestsPerSecond, 0)} req/s), closed loop ` +
          `p50 ${signed(b.latencyP50Ms - a.latencyP50Ms, 2)} ms, p99 ${signed(b.latencyP99Ms - a.latencyP99Ms, 2)} ms`,
      )
      const fa = base.fixedRate
      const fb = limited.fixedRate
      if (fa !== undefined && fb !== undefined) {
        rate = fb.rate
        worstLagMs = Math.max(worstLagMs, fa.sendLagP99Ms ?? 0, fb.sendLagP99Ms ?? 0)
        const d50 = fb.latencyP50Ms - fa.latencyP50Ms
        const d99 = fb.latencyP99Ms - fa.latencyP99Ms
        dp50.push(d50)
        dp99.push(d99)
        lines.push(
          `  at ${fb.rate} req/s: p50 ${signed(d50, 2)} ms ` +
            `(${fa.latencyP50Ms.toFixed(2)} → ${fb.latencyP50Ms.toFixed(2)}), ` +
            `p99 ${signed(d99, 2)} ms ` +
            `(${fa.latencyP99Ms.toFixed(2)} → ${fb.latencyP99Ms.toFixed(2)})` +
            (rounds.length > 1 ? '' : verdict(fb.rate, d50, d99)),
        )
      }
      const cpuA = cpuMicrosPerRequest(base)
      const cpuB = cpuMicrosPerRequest(limited)
      if (cpuA !== undefined && cpuB !== undefined && !baseName.includes('workers')) {
        const r = limited.redis
        const redisPart =
          r === undefined
            ? "redis-server's own CPU not counted"
            : `redis-server ${fixed(r.cpuMicrosPerRequest, 1)} µs per request on the load CPU, ` +
              `${fixed(r.requestsPerCall, 1)} requests per script call`
        lines.push(
          `  gateway CPU per request ${signed(cpuB - cpuA, 1)} µs (${cpuA.toFixed(1)} → ${cpuB.toFixed(1)}; ${redisPart})`,
        )
      }
    }
    if (rounds.length > 1) {
      const fixedPart =
        dp50.length > 0
          ? `; at ${rate} req/s p50 ${signed(median(dp50), 2)} ms, p99 ${signed(median(dp99), 2)} ms` +
            verdict(rate, median(dp50), median(dp99))
          : ''
      lines.push(
        `${what}, median of ${rounds.length} rounds: ${median(ratios).toFixed(2)}x the req/s${fixedPart}`,
      )
    }
  }
  return lines
}
