// Runs the load generator as its own process, so it never shares an event loop with the process
// under test: autocannon (its CLI with --json) for closed loops, bench/fixed-rate.ts for the
// fixed-rate latency runs, whose latencies autocannon would round to whole milliseconds.
import { fileURLToPath } from 'node:url'
import { pinned, startChild } from './child.js'
import type { FixedRateJson } from './fixed-rate.js'

const AUTOCANNON = fileURLToPath(
  new URL('../node_modules/autocannon/autocannon.js', import.meta.url),
)
const FIXED_RATE = fileURLToPath(new URL('./fixed-rate.ts', import.meta.url))

export interface LoadOptions {
  url: string
  seconds: number
  connections: number
  cpu?: string
  /** Request headers as `name: value` (autocannon -H). */
  headers?: readonly string[]
  /** For autocannon, e.g. NODE_EXTRA_CA_CERTS to trust a test CA for https URLs. */
  env?: NodeJS.ProcessEnv
  /** Fixed overall rate, requests/s (autocannon -R); closed loop without it. */
  rate?: number
}

export interface LoadResult {
  requestsPerSecond: number
  requests: number
  latencyP50Ms: number
  latencyP99Ms: number
  latencyMaxMs: number
  errors: number
  timeouts: number
  non2xx: number
  /** From the fixed-rate client only: */
  latencyP90Ms?: number
  /** Sends that left over 1 ms after they were due, and how late the 99th percentile left. */
  lateSends?: number
  sendLagP99Ms?: number
  /** The load generator's CPU time per request, µs (it shares a CPU with the upstream). */
  clientCpuMicrosPerRequest?: number
}

interface AutocannonJson {
  requests: { average: number; total: number }
  latency: { p50: number; p99: number; max: number }
  errors: number
  timeouts: number
  non2xx: number
}

/** Waits for a load child that should run about `seconds`; anything far beyond means it hung. */
async function finish(
  child: ReturnType<typeof startChild>,
  name: string,
  seconds: number,
): Promise<string> {
  const code = await Promise.race([
    child.exited,
    new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), (seconds + 30) * 1000).unref()),
  ])
  if (code === 'timeout') {
    await child.stop('SIGKILL', 5000)
    throw new Error(`${name} did not finish within ${seconds + 30} s`)
  }
  const jsonLine = child.lines.find((l) => l.startsWith('{'))
  if (code !== 0 || jsonLine === undefined) {
    throw new Error(`${name} failed (code ${code}):\n  ${child.lines.slice(-20).join('\n  ')}`)
  }
  return jsonLine
}

export interface FixedRateOptions {
  url: string
  seconds: number
  /** Requests/s offered, open loop: sends follow the schedule whatever the answers do. */
  rate: number
  connections: number
  cpu?: string
  headers?: readonly string[]
  env?: NodeJS.ProcessEnv
}

/** A fixed-rate run with bench/fixed-rate.ts: latencies to 0.01 ms, from each scheduled send. */
export async function runFixedRateLoad(opts: FixedRateOptions): Promise<LoadResult> {
  const argv = [
    process.execPath,
    '--import',
    'tsx',
    FIXED_RATE,
    `--url=${opts.url}`,
    `--rate=${opts.rate}`,
    `--duration=${opts.seconds}`,
    `--connections=${opts.connections}`,
    ...(opts.headers ?? []).map((h) => `--header=${h}`),
  ]
  const child = startChild('fixed-rate', pinned(opts.cpu, argv), opts.env)
  // A connection per --connections and one second of unrecorded schedule precede the measured
  // one, and each phase may drain for up to 10 s.
  const r = JSON.parse(await finish(child, 'fixed-rate', opts.seconds + 12)) as FixedRateJson
  return {
    requestsPerSecond: r.achievedRate,
    requests: r.answered,
    latencyP50Ms: r.p50Ms,
    latencyP90Ms: r.p90Ms,
    latencyP99Ms: r.p99Ms,
    latencyMaxMs: r.maxMs,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    lateSends: r.lateSends,
    sendLagP99Ms: r.sendLagP99Ms,
    clientCpuMicrosPerRequest: r.clientCpuMicrosPerRequest,
  }
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const argv = [
    process.execPath,
    AUTOCANNON,
    '-c',
    String(opts.connections),
    '-d',
    String(opts.seconds),
    ...(opts.headers ?? []).flatMap((h) => ['-H', h]),
    ...(opts.rate !== undefined ? ['-R', String(opts.rate)] : []),
    '--json',
    opts.url,
  ]
  const child = startChild('autocannon', pinned(opts.cpu, argv), opts.env)
  const jsonLine = await finish(child, 'autocannon', opts.seconds)
  const result = JSON.parse(jsonLine) as AutocannonJson
  return {
    requestsPerSecond: result.requests.average,
    requests: result.requests.total,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    latencyMaxMs: result.latency.max,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
  }
}
