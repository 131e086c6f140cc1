// The PROXY protocol bench pairs: the same Portcullis listener measured behind the same relay
// (bench/proxy-header-relay.ts, on the load generator's CPU), once with
// gatewayTopology.proxyProtocol on and a v2 header written per connection, once plain. The
// `-new-conn` pair sends `Connection: close`, so every request is a new connection with its own
// header: the worst case for the header's cost. The report is the gateway's CPU per request of
// each pair, side by side, as a ratio. The `-new-conn` pair runs at a fixed rate (--proxy-rate)
// from bench/new-conn-client.ts, not autocannon (see there why), so both sides serve the same
// requests and only the gateway's CPU for them differs; when both run, they are loaded at the
// same time (bench/run.ts), so a busy machine slows both alike. A run that could not keep up,
// or had errors or non-2xx answers, is marked not valid.
import { pinned, startChild } from './child.js'
import type { LoadResult } from './load.js'
import type { Target } from './options.js'
import { cpuMicrosPerRequest, type TargetResult } from './report.js'
import { median, pairsByRound } from './rounds.js'

const TSX = ['--import', 'tsx']

/** The GatewayConfig lines that turn PROXY protocol on for loopback sources (the relay). */
export const PROXY_PROTOCOL_SPEC = [
  '  gatewayTopology:',
  '    proxyProtocol:',
  '      trustedCidrs: [127.0.0.1/32]',
]

export interface Relayed {
  url: string
  stop(): Promise<void>
}

/** Starts the relay in front of `gatewayUrl` (http://127.0.0.1:PORT/); `header`: v2 or none. */
export async function startRelay(
  gatewayUrl: string,
  header: 'v2' | 'none',
  cpu: string | undefined,
): Promise<Relayed> {
  const relay = startChild(
    `relay-${header}`,
    pinned(cpu, [process.execPath, ...TSX, 'bench/proxy-header-relay.ts']),
    { TARGET_PORT: new URL(gatewayUrl).port, HEADER: header },
  )
  const port = Number((await relay.waitForLine(/^listening (\d+)/, 15_000))[1])
  return {
    url: `http://127.0.0.1:${port}/`,
    async stop() {
      await relay.stop('SIGTERM', 5000).catch(() => null)
    },
  }
}

export interface NewConnectionLoad {
  url: string
  seconds: number
  /** Requests (and connections) per second. */
  rate: number
  /** Arrivals beyond this many open requests are skipped (and make the run not valid). */
  maxInFlight: number
  cpu?: string
}

/** Runs bench/new-conn-client.ts as its own process: a new connection per request. */
export async function runNewConnectionLoad(opts: NewConnectionLoad): Promise<LoadResult> {
  const client = startChild(
    'new-conn-client',
    pinned(opts.cpu, [process.execPath, ...TSX, 'bench/new-conn-client.ts']),
    {
      LOAD_URL: opts.url,
      LOAD_RATE: String(opts.rate),
      LOAD_SECONDS: String(opts.seconds),
      LOAD_MAX_IN_FLIGHT: String(opts.maxInFlight),
    },
  )
  // The client ends at most its 10 s request timeout after the run.
  const code = await Promise.race([
    client.exited,
    new Promise<'timeout'>((r) =>
      setTimeout(() => r('timeout'), (opts.seconds + 30) * 1000).unref(),
    ),
  ])
  if (code === 'timeout') {
    await client.stop('SIGKILL', 5000)
    throw new Error(`the new-connection client did not finish within ${opts.seconds + 30} s`)
  }
  const jsonLine = client.lines.find((l) => l.startsWith('{'))
  if (code !== 0 || jsonLine === undefined) {
    throw new Error(
      `the new-connection client failed (code ${code}):\n  ${client.lines.slice(-20).join('\n  ')}`,
    )
  }
  return JSON.parse(jsonLine) as LoadResult
}

/** (plain, with the header, what) pairs; each is measured back to back. */
export const PROXY_PROTOCOL_PAIRS: readonly (readonly [Target, Target, string])[] = [
  ['portcullis-relay', 'portcullis-proxy-v2', 'PROXY v2 vs plain, keep-alive'],
  [
    'portcullis-relay-new-conn',
    'portcullis-proxy-v2-new-conn',
    'PROXY v2 vs plain, a new connection (and header) per request',
  ],
]

/** A fixed-rate run that answered less than this share of the offered rate was saturated. */
const SATURATED_BELOW = 0.95

/** Why a fixed-rate run is not a valid comparison (the relay or gateway could not keep up). */
function saturation(r: TargetResult | undefined): string | undefined {
  if (r?.offeredRate === undefined || r.load === undefined) return undefined
  // A refused or failed request costs the gateway less than a served one: not the same requests.
  const failed = r.load.errors + r.load.timeouts + r.load.non2xx
  if (failed > 0) return `${r.target} had ${failed} errors, timeouts or non-2xx answers`
  const share = r.load.requestsPerSecond / r.offeredRate
  if (share >= SATURATED_BELOW) return undefined
  return `${r.target} answered ${r.load.requestsPerSecond.toFixed(0)} of ${r.offeredRate} req/s offered`
}

/** One line per pair that ran: gateway CPU µs per request of each and their ratio. */
/** The PROXY / plain CPU per request of each pair, per round, and with rounds their median. */
export function formatProxyProtocolCost(results: readonly TargetResult[]): string[] {
  const lines: string[] = []
  for (const [plainName, proxiedName, what] of PROXY_PROTOCOL_PAIRS) {
    const rounds = pairsByRound(results, plainName, proxiedName)
    const ratios: number[] = []
    for (const { round, a: plainResult, b: proxiedResult } of rounds) {
      const plain = cpuMicrosPerRequest(plainResult)
      const proxied = cpuMicrosPerRequest(proxiedResult)
      if (plain === undefined || proxied === undefined) continue
      const tag = rounds.length > 1 ? ` (round ${round})` : ''
      const saturated = saturation(plainResult) ?? saturation(proxiedResult)
      if (saturated !== undefined) {
        lines.push(`${what}${tag}: NOT VALID (${saturated}); rerun with a lower --proxy-rate`)
        continue
      }
      const ratio = proxied / plain
      ratios.push(ratio)
      lines.push(
        `${what}${tag}: gateway CPU per request ${plain.toFixed(1)} → ${proxied.toFixed(1)} µs, ` +
          `ratio ${ratio.toFixed(3)} (${signedPct(ratio)} %; target ≤ +3 %)`,
      )
    }
    if (ratios.length > 1) {
      const m = median(ratios)
      lines.push(
        `${what}, median of ${ratios.length} rounds: ratio ${m.toFixed(3)} (${signedPct(m)} %; ` +
          `range ${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)}; target ≤ +3 %)`,
      )
    }
  }
  return lines
}

function signedPct(ratio: number): string {
  const pct = (ratio - 1) * 100
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(1)}`
}
