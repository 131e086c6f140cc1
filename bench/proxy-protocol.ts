// The PROXY protocol bench pairs: the same Portcullis listener measured behind the same relay
// (bench/proxy-header-relay.ts, on the load generator's CPU), once with
// gatewayTopology.proxyProtocol on and a v2 header written per connection, once plain. The
// `-new-conn` pair sends `Connection: close`, so every request is a new connection with its own
// header: the worst case for the header's cost. The report is the gateway's CPU per request of
// each pair, side by side, as a ratio. The relay (one Node process opening a connection per
// request) saturates long before the gateway, so the `-new-conn` pair runs at a fixed rate
// below that (--proxy-rate, default 300 req/s): both sides then serve the same requests, and
// only the gateway's CPU for them differs. A run that could not keep up is marked not valid.
import { pinned, startChild } from './child.js'
import type { Target } from './options.js'
import type { TargetResult } from './report.js'

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

/** (plain, with the header, what) pairs; each is measured back to back. */
export const PROXY_PROTOCOL_PAIRS: readonly (readonly [Target, Target, string])[] = [
  ['portcullis-relay', 'portcullis-proxy-v2', 'PROXY v2 vs plain, keep-alive'],
  [
    'portcullis-relay-new-conn',
    'portcullis-proxy-v2-new-conn',
    'PROXY v2 vs plain, a new connection (and header) per request',
  ],
]

function cpuMicrosPerRequest(r: TargetResult | undefined): number | undefined {
  if (r?.cpuPercent === undefined || !r.load || r.load.requestsPerSecond === 0) return undefined
  return (r.cpuPercent / 100 / r.load.requestsPerSecond) * 1e6
}

/** A fixed-rate run that answered less than this share of the offered rate was saturated. */
const SATURATED_BELOW = 0.95

/** Why a fixed-rate run is not a valid comparison (the relay or gateway could not keep up). */
function saturation(r: TargetResult | undefined): string | undefined {
  if (r?.offeredRate === undefined || r.load === undefined) return undefined
  const share = r.load.requestsPerSecond / r.offeredRate
  if (share >= SATURATED_BELOW) return undefined
  return `${r.target} answered ${r.load.requestsPerSecond.toFixed(0)} of ${r.offeredRate} req/s offered`
}

/** One line per pair that ran: gateway CPU µs per request of each and their ratio. */
export function formatProxyProtocolCost(results: readonly TargetResult[]): string[] {
  const lines: string[] = []
  for (const [plainName, proxiedName, what] of PROXY_PROTOCOL_PAIRS) {
    const plainResult = results.find((r) => r.target === plainName)
    const proxiedResult = results.find((r) => r.target === proxiedName)
    const plain = cpuMicrosPerRequest(plainResult)
    const proxied = cpuMicrosPerRequest(proxiedResult)
    if (plain === undefined || proxied === undefined) continue
    const saturated = saturation(plainResult) ?? saturation(proxiedResult)
    if (saturated !== undefined) {
      lines.push(
        `${what}: NOT VALID, the load was saturated (${saturated}); ` +
          'rerun with a lower --proxy-rate',
      )
      continue
    }
    const ratio = proxied / plain
    const pct = (ratio - 1) * 100
    lines.push(
      `${what}: gateway CPU per request ${plain.toFixed(1)} → ${proxied.toFixed(1)} µs, ` +
        `ratio ${ratio.toFixed(3)} (${pct >= 0 ? '+' : ''}${pct.toFixed(1)} %; target ≤ +3 %)`,
    )
  }
  return lines
}
