// The issue-16 scenario table: for each scenario, Portcullis against the Node floor and
// @fastify/http-proxy measured in the same run, as ratios of requests/s and of CPU per request,
// with the targets each ratio must meet. Also the access log's cost, the added p50 at a fixed
// rate over the floor, and peak/idle RSS against the floor's.
import type { Target } from './options.js'
import { cpuMicrosPerRequest, type TargetResult } from './report.js'

interface Scenario {
  readonly name: string
  readonly portcullis: Target
  readonly floor: Target
  readonly fastify: Target
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'HTTP keep-alive, small body',
    portcullis: 'portcullis',
    floor: 'floor',
    fastify: 'fastify',
  },
  {
    name: 'HTTP keep-alive, 16 KiB body',
    portcullis: 'portcullis-16k',
    floor: 'floor-16k',
    fastify: 'fastify-16k',
  },
  {
    name: 'HTTPS keep-alive',
    portcullis: 'portcullis-https',
    floor: 'floor-https',
    fastify: 'fastify-https',
  },
  {
    name: 'HTTPS, a handshake per request',
    portcullis: 'portcullis-https-handshake',
    floor: 'floor-https-handshake',
    fastify: 'fastify-https-handshake',
  },
]

/** Targets of issue 16: ≥ 1.0× the floor, ≥ 1.3× fastify (requests/s). */
const FLOOR_TARGET = 1.0
const FASTIFY_TARGET = 1.3
const ACCESS_LOG_TARGET = 1.1
const ADDED_P50_TARGET_MS = 0.15
const PEAK_RSS_TARGET = 1.1
const IDLE_RSS_TARGET_MB = 70

function verdict(ok: boolean): string {
  return ok ? 'ok' : 'MISSED'
}

function cell(a: TargetResult | undefined, b: TargetResult | undefined, target: number): string {
  if (a?.load === undefined || b?.load === undefined || b.load.requestsPerSecond === 0) return '-'
  const rps = a.load.requestsPerSecond / b.load.requestsPerSecond
  const cpuA = cpuMicrosPerRequest(a)
  const cpuB = cpuMicrosPerRequest(b)
  // CPU ratio as "how many of our requests fit in the other's CPU": > 1 is cheaper than it.
  const cpu = cpuA !== undefined && cpuB !== undefined ? (cpuB / cpuA).toFixed(2) : '-'
  return `${rps.toFixed(2)}x req/s, ${cpu}x per CPU (${verdict(rps >= target)})`
}

export function formatScenarioRatios(results: readonly TargetResult[]): string[] {
  const find = (t: Target): TargetResult | undefined => results.find((r) => r.target === t)
  const rows: string[][] = []
  for (const s of SCENARIOS) {
    const p = find(s.portcullis)
    if (p?.load === undefined) continue
    rows.push([
      s.name,
      cell(p, find(s.floor), FLOOR_TARGET),
      cell(p, find(s.fastify), FASTIFY_TARGET),
    ])
  }
  const lines: string[] = []
  if (rows.length > 0) {
    const header = ['scenario', 'Portcullis / Node floor (≥ 1.0)', 'Portcullis / fastify (≥ 1.3)']
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
    const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')
    lines.push('', line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line))
  }
  lines.push(...accessLogCost(find('portcullis'), find('portcullis-access-log')))
  lines.push(...addedLatency(find('portcullis'), find('floor')))
  lines.push(...memory(find('portcullis'), find('floor')))
  return lines
}

function accessLogCost(off: TargetResult | undefined, on: TargetResult | undefined): string[] {
  const a = off === undefined ? undefined : cpuMicrosPerRequest(off)
  const b = on === undefined ? undefined : cpuMicrosPerRequest(on)
  if (a === undefined || b === undefined) return []
  const ratio = b / a
  return [
    `Access log on vs off: CPU per request ${a.toFixed(1)} → ${b.toFixed(1)} µs, ` +
      `${ratio.toFixed(3)}x (target ≤ ${ACCESS_LOG_TARGET}: ${verdict(ratio <= ACCESS_LOG_TARGET)})`,
  ]
}

function addedLatency(p: TargetResult | undefined, floor: TargetResult | undefined): string[] {
  const a = p?.fixedRate
  const b = floor?.fixedRate
  if (a === undefined || b === undefined) return []
  const added = a.latencyP50Ms - b.latencyP50Ms
  return [
    `At ${a.rate} req/s: p50 ${b.latencyP50Ms.toFixed(2)} (floor) → ${a.latencyP50Ms.toFixed(2)} ms, ` +
      `added ${added.toFixed(2)} ms (target ≤ ${ADDED_P50_TARGET_MS} ms: ` +
      `${verdict(added <= ADDED_P50_TARGET_MS)}); p99 ${b.latencyP99Ms.toFixed(2)} → ` +
      `${a.latencyP99Ms.toFixed(2)} ms; non-2xx ${a.non2xx} (floor ${b.non2xx}), ` +
      `errors ${a.errors + a.timeouts}`,
  ]
}

function memory(p: TargetResult | undefined, floor: TargetResult | undefined): string[] {
  const lines: string[] = []
  if (p?.peakRssMb !== undefined && floor?.peakRssMb !== undefined) {
    const ratio = p.peakRssMb / floor.peakRssMb
    lines.push(
      `Peak RSS (keep-alive): ${p.peakRssMb.toFixed(0)} MiB vs the floor's ` +
        `${floor.peakRssMb.toFixed(0)} MiB, ${ratio.toFixed(2)}x ` +
        `(target ≤ ${PEAK_RSS_TARGET}: ${verdict(ratio <= PEAK_RSS_TARGET)})`,
    )
  }
  if (p?.idleRssMb !== undefined) {
    lines.push(
      `Idle RSS: ${p.idleRssMb.toFixed(0)} MiB (target ≤ ${IDLE_RSS_TARGET_MB}: ` +
        `${verdict(p.idleRssMb <= IDLE_RSS_TARGET_MB)})`,
    )
  }
  return lines
}
