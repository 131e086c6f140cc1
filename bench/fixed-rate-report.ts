// One line per fixed-rate run: the latency percentiles to 0.01 ms and whether the load side kept
// its schedule (late sends and their lag are the client's own share of every latency).
import type { LoadResult } from './load.js'

export function formatFixedRate(r: LoadResult): string {
  const ms = (v: number | undefined): string => (v === undefined ? '-' : v.toFixed(2))
  return (
    `p50 ${ms(r.latencyP50Ms)} ms, p90 ${ms(r.latencyP90Ms)} ms, p99 ${ms(r.latencyP99Ms)} ms, ` +
    `max ${ms(r.latencyMaxMs)} ms; ${r.requestsPerSecond.toFixed(0)} req/s answered, ` +
    `${r.non2xx} non-2xx, ${r.errors + r.timeouts} errors; ` +
    `${r.lateSends ?? '-'} sends over 1 ms late (p99 lag ${ms(r.sendLagP99Ms)} ms), ` +
    `load side ${r.clientCpuMicrosPerRequest ?? '-'} µs CPU/req`
  )
}
