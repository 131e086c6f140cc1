// `npm run soak` (hardening.md §9.2 #2, §11): finds the gateway's saturation rate, then offers
// SOAK_SHARE of it for --duration seconds (default 600) as a mix of keep-alive clients and
// clients that open a connection per request, and checks that nothing leaks or degrades: no
// unexpected error, RSS grows less than 1 MB a minute between the end of the warm-up (minute 2,
// or a fifth of a shorter run) and the end, open file descriptors return to their baseline ± 5,
// and the gateway's own event-loop delay p99 (read from its metrics endpoint, so its loop, not
// this runner's) stays under 20 ms in every one-second sample. Exits 1 when a threshold is
// missed. Figures are sampled every second from /proc and the gateway's metrics endpoint.
//
// --profile runs the gateway with --cpu-prof and --trace-gc and prints, after the run, its top
// self-time functions and its GC pauses (count and longest per kind): where loop delay comes from.
import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { gatewayConfigDoc, joinDocs, proxyRouteDocs } from '../test/e2e/harness/config-docs.js'
import { REPO_ROOT, startGateway } from '../test/e2e/harness/gateway.js'
import { freePorts } from '../test/e2e/harness/ports.js'
import { startBenchUpstream, startChild, type Child } from './child.js'
import { topSelfTime } from './cpu-profile.js'
import { runLoad } from './load.js'
import { gatewayEntry, numberOption, runScript, verdict } from './script-kit.js'
import { rssMegabytes } from './proc-stats.js'

const SOAK_SHARE = 0.3
/** Of the soak rate, the share sent on a new connection per request (the rest keep alive). */
const NEW_CONNECTION_SHARE = 0.3
const SATURATION_SECONDS = 10
const SATURATION_CONNECTIONS = 50
const SAMPLE_INTERVAL_MS = 1000
const THRESHOLDS = { rssSlopeMbPerMin: 1, fdDelta: 5, eventLoopP99Ms: 20 }

const AUTOCANNON = fileURLToPath(
  new URL('../node_modules/autocannon/autocannon.js', import.meta.url),
)

interface AutocannonResult {
  requests: { total: number }
  errors: number
  timeouts: number
  non2xx: number
}

function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return Number.NaN
  }
}

/** Least-squares slope of (minute, MB) samples. */
function slope(samples: readonly (readonly [number, number])[]): number {
  const n = samples.length
  if (n < 2) return Number.NaN
  let sx = 0
  let sy = 0
  let sxy = 0
  let sxx = 0
  for (const [x, y] of samples) {
    sx += x
    sy += y
    sxy += x * y
    sxx += x * x
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx)
}

/**
 * prom-client's `nodejs_eventloop_lag_p99_seconds` is the p99 of perf_hooks'
 * monitorEventLoopDelay since the previous scrape (each scrape resets it). That histogram records
 * the whole interval between two of its timer's wake-ups, so an idle loop reads the timer's
 * resolution (prom-client's default, 10 ms), not 0: the delay is the figure minus that.
 */
const LAG_RESOLUTION_MS = 10

async function eventLoopP99Ms(metricsUrl: string): Promise<number> {
  try {
    const res = await request(metricsUrl, { headersTimeout: 5000, bodyTimeout: 5000 })
    const text = await res.body.text()
    const v = /^portcullis_nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(text)?.[1]
    return v === undefined ? Number.NaN : Math.max(0, Number(v) * 1000 - LAG_RESOLUTION_MS)
  } catch {
    return Number.NaN
  }
}

function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)]!
}

function autocannon(name: string, url: string, rate: number, seconds: number, closeEach: boolean) {
  return startChild(name, [
    process.execPath,
    AUTOCANNON,
    '-c',
    closeEach ? '20' : '50',
    '-R',
    String(Math.max(1, Math.round(rate))),
    '-d',
    String(seconds),
    '-t',
    '10',
    ...(closeEach ? ['-H', 'connection=close'] : []),
    '--json',
    url,
  ])
}

function resultOf(child: Child): AutocannonResult | undefined {
  const json = child.lines.find((l) => l.startsWith('{'))
  return json === undefined ? undefined : (JSON.parse(json) as AutocannonResult)
}

/** `--trace-gc` lines: `... ms: Scavenge 20.1 (30.2) -> 19.5 (31.2) MB, 1.23 / 0.00 ms ...`. */
function gcPauses(lines: readonly string[]): string[] {
  const byKind = new Map<string, { count: number; maxMs: number; totalMs: number }>()
  for (const line of lines) {
    const m = /ms: ([A-Za-z-]+(?: \(reduce\))?)[^,]*MB, ([\d.]+) \/ [\d.]+ ms/.exec(line)
    if (m === null) continue
    const kind = m[1]!
    const ms = Number(m[2])
    const row = byKind.get(kind) ?? { count: 0, maxMs: 0, totalMs: 0 }
    row.count++
    row.totalMs += ms
    row.maxMs = Math.max(row.maxMs, ms)
    byKind.set(kind, row)
  }
  return [...byKind].map(
    ([kind, r]) =>
      `  ${kind}: ${r.count} pauses, longest ${r.maxMs.toFixed(1)} ms, total ${r.totalMs.toFixed(0)} ms`,
  )
}

function printProfile(profDir: string, gcLines: readonly string[]): void {
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))
  console.log(['', 'GC pauses (--trace-gc):', ...gcPauses(gcLines)].join('\n'))
  if (file === undefined) {
    console.log('no .cpuprofile was written')
    return
  }
  console.log(`top self time (${join(profDir, file)}):`)
  for (const r of topSelfTime(join(profDir, file), REPO_ROOT, 25)) {
    console.log(`  ${r.percent.toFixed(1).padStart(5)} %  ${r.functionName}  ${r.location}`)
  }
}

async function main(): Promise<number> {
  const duration = numberOption('duration', 600)
  const isProfiling = process.argv.includes('--profile')
  const profDir = isProfiling ? mkdtempSync(join(tmpdir(), 'portcullis-soak-prof-')) : ''
  const nodeFlags = isProfiling ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--trace-gc'] : []
  const entry = gatewayEntry()
  const { child: upstream, port: upstreamPort } = await startBenchUpstream()
  const [gatewayPort, readinessPort, metricsPort] = await freePorts(3)
  const gw = await startGateway({
    yaml: joinDocs(
      gatewayConfigDoc({
        readinessPort: readinessPort!,
        metricsPort: metricsPort!,
        accessLog: false,
        extraSpec: ['  downstream:', '    maxRequestsPerConnection: 0'],
      }),
      proxyRouteDocs({ gatewayPort: gatewayPort!, upstreamPort, name: 'bench' }),
    ),
    command: [process.execPath, ...nodeFlags, ...entry],
    readyTimeoutMs: 30_000,
  })
  const pid = gw.proc.pid ?? 0
  const url = `http://127.0.0.1:${gatewayPort}/`
  const metricsUrl = `http://127.0.0.1:${metricsPort}/stats/prometheus`
  console.log(`Portcullis runs from ${entry.at(-1)}`)
  try {
    // Before any load: the saturation run's keep-alive connections stay open up to the idle
    // timeout, so a baseline taken after it counts them.
    const fdBaseline = openFds(pid)
    const saturation = await runLoad({
      url,
      seconds: SATURATION_SECONDS,
      connections: SATURATION_CONNECTIONS,
    })
    const rmax = Math.round(saturation.requestsPerSecond)
    const rate = rmax * SOAK_SHARE
    console.log(
      `saturation: ${rmax} req/s; soaking at ${rate.toFixed(0)} req/s (${SOAK_SHARE * 100} %, ` +
        `${NEW_CONNECTION_SHARE * 100} % on new connections) for ${duration} s; fds ${fdBaseline}`,
    )
    // A scrape resets the delay histogram: without this one, the first sample of the soak would
    // hold everything since the process started, the saturation run at full load included.
    await eventLoopP99Ms(metricsUrl)
    const keepAlive = autocannon(
      'keep-alive',
      url,
      rate * (1 - NEW_CONNECTION_SHARE),
      duration,
      false,
    )
    const perRequest = autocannon(
      'new-connection',
      url,
      rate * NEW_CONNECTION_SHARE,
      duration,
      true,
    )
    const start = performance.now()
    const warmupMinutes = Math.min(2, duration / 60 / 5)
    const rss: [number, number][] = []
    const loopP99: number[] = []
    let done = 0
    void keepAlive.exited.then(() => done++)
    void perRequest.exited.then(() => done++)
    const until = start + (duration + 60) * 1000
    while (done < 2 && performance.now() < until) {
      await sleep(SAMPLE_INTERVAL_MS)
      const minute = (performance.now() - start) / 60_000
      const mb = rssMegabytes(pid)
      if (mb !== undefined && minute >= warmupMinutes) rss.push([minute, mb])
      const lag = await eventLoopP99Ms(metricsUrl)
      if (Number.isFinite(lag)) loopP99.push(lag)
    }
    if (done < 2) {
      await keepAlive.stop('SIGKILL', 5000)
      await perRequest.stop('SIGKILL', 5000)
    }
    // Connections the load left behind close at the keep-alive timeout at the latest.
    let fdAfter = openFds(pid)
    for (let i = 0; i < 70 && Math.abs(fdAfter - fdBaseline) > THRESHOLDS.fdDelta; i++) {
      await sleep(1000)
      fdAfter = openFds(pid)
    }
    const isAlive = gw.proc.exitCode === null && gw.proc.signalCode === null
    const results = [resultOf(keepAlive), resultOf(perRequest)]
    const total = results.reduce((n, r) => n + (r?.requests.total ?? 0), 0)
    const errors = results.reduce((n, r) => n + (r === undefined ? 1 : r.errors + r.non2xx), 0)
    const rssSlope = slope(rss)
    const growth = rss.length > 1 ? rss.at(-1)![1] - rss[0]![1] : Number.NaN
    const loopWorst = loopP99.length === 0 ? Number.NaN : Math.max(...loopP99)
    console.log(
      [
        '',
        `process alive: ${isAlive ? 'yes' : 'NO'}`,
        `responses: ${total}; unexpected errors (errors, timeouts counted by autocannon, non-2xx): ${errors}`,
        `RSS from minute ${warmupMinutes.toFixed(1)}: ${rss[0]?.[1].toFixed(1) ?? '?'} -> ` +
          `${rss.at(-1)?.[1].toFixed(1) ?? '?'} MB, slope ${rssSlope.toFixed(2)} MB/min ` +
          `(threshold < ${THRESHOLDS.rssSlopeMbPerMin}), growth ${growth.toFixed(1)} MB`,
        `open fds: ${fdBaseline} before, ${fdAfter} after (threshold ± ${THRESHOLDS.fdDelta})`,
        `event-loop delay p99 (worst sample): ${loopWorst.toFixed(1)} ms ` +
          `(threshold < ${THRESHOLDS.eventLoopP99Ms}); of the ${loopP99.length} one-second ` +
          `samples, median ${percentile(loopP99, 0.5).toFixed(1)} ms, ` +
          `p90 ${percentile(loopP99, 0.9).toFixed(1)} ms`,
      ].join('\n'),
    )
    const failures = [
      !isAlive && 'the process died',
      errors > 0 && 'errors',
      !(rssSlope < THRESHOLDS.rssSlopeMbPerMin) && 'RSS slope',
      !(Math.abs(fdAfter - fdBaseline) <= THRESHOLDS.fdDelta) && 'open fds',
      !(loopWorst < THRESHOLDS.eventLoopP99Ms) && 'event-loop delay',
    ]
    return verdict(failures)
  } finally {
    // SIGTERM drains and exits 0; only a clean exit writes the CPU profile.
    await gw.stop('SIGTERM', 40_000).catch(() => null)
    if (isProfiling) printProfile(profDir, gw.stdout)
    await gw.cleanup()
    await upstream.stop('SIGTERM', 5000).catch(() => null)
  }
}

runScript(main)
