// Runs autocannon as its own process (its CLI with --json), so the load generator never shares an
// event loop with the process under test.
import { fileURLToPath } from 'node:url'
import { pinned, startChild } from './child.js'

const AUTOCANNON = fileURLToPath(
  new URL('../node_modules/autocannon/autocannon.js', import.meta.url),
)

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
}

interface AutocannonJson {
  requests: { average: number; total: number }
  latency: { p50: number; p99: number; max: number }
  errors: number
  timeouts: number
  non2xx: number
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
  // autocannon runs for `seconds`; anything far beyond that means it hung.
  const code = await Promise.race([
    child.exited,
    new Promise<'timeout'>((r) =>
      setTimeout(() => r('timeout'), (opts.seconds + 30) * 1000).unref(),
    ),
  ])
  if (code === 'timeout') {
    await child.stop('SIGKILL', 5000)
    throw new Error(`autocannon did not finish within ${opts.seconds + 30} s`)
  }
  const jsonLine = child.lines.find((l) => l.startsWith('{'))
  if (code !== 0 || jsonLine === undefined) {
    throw new Error(`autocannon failed (code ${code}):\n  ${child.lines.slice(-20).join('\n  ')}`)
  }
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
