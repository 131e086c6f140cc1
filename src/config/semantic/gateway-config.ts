/**
 * GatewayConfig checks: the process listeners (admin, readiness, metrics) each need their own
 * port, and Gateway servers must not listen on one of them (the defaults apply without a
 * GatewayConfig too).
 */
import type { Diagnostic } from '../../diag/index.js'
import type { GatewayConfig, Gateway, Path } from '../types.js'
import { createReporter, type Report } from './report.js'

/** The Istio gateway conventions (DESIGN.md): admin :15000, readiness :15021, metrics :15090. */
const PROCESS_PORT_DEFAULTS = { admin: 15000, readiness: 15021, metrics: 15090 } as const

type Listener = keyof typeof PROCESS_PORT_DEFAULTS

export function checkGatewayConfig(
  gc: GatewayConfig | undefined,
  gateways: readonly Gateway[],
  diags: Diagnostic[],
): void {
  const report = gc !== undefined ? createReporter(gc, diags) : undefined
  if (report !== undefined) checkTrustedProxiesAlias(gc!, report)
  const claimed = new Map<number, Listener>()
  for (const listener of ['admin', 'readiness', 'metrics'] as const) {
    const explicit = gc?.spec[listener]?.port
    const port = explicit ?? PROCESS_PORT_DEFAULTS[listener]
    if (port === 0) continue // 0 turns the listener off
    const path: Path = explicit !== undefined ? ['spec', listener, 'port'] : ['spec']
    const other = claimed.get(port)
    if (other !== undefined) {
      report?.(
        'PC1702',
        path,
        `${listener} and ${other} both use port ${port}${explicit === undefined ? ` (the ${listener} default)` : ''}; give each its own port or set one to 0`,
      )
      continue
    }
    claimed.set(port, listener)
  }
  for (const gw of gateways) {
    const gwReport = createReporter(gw, diags)
    gw.spec.servers.forEach((server, i) => {
      const listener = claimed.get(server.port.number)
      if (listener === undefined) return
      gwReport(
        'PC1702',
        ['spec', 'servers', i, 'port', 'number'],
        `port ${server.port.number} is the GatewayConfig ${listener} port; use another port for the server or move ${listener} (spec.${listener}.port)`,
      )
    })
  }
}

/**
 * `numTrustedProxies` is the older spelling of `gatewayTopology.numTrustedProxies` (where Istio's
 * ProxyConfig has it); both may be written only when they agree.
 */
function checkTrustedProxiesAlias(gc: GatewayConfig, report: Report): void {
  const alias = gc.spec.numTrustedProxies
  const topology = gc.spec.gatewayTopology?.numTrustedProxies
  if (alias === undefined || topology === undefined || alias === topology) return
  report(
    'PC1107',
    ['spec', 'gatewayTopology', 'numTrustedProxies'],
    `gatewayTopology.numTrustedProxies (${topology}) and numTrustedProxies (${alias}) differ; numTrustedProxies is the same setting, keep one`,
  )
}
