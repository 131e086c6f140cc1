/**
 * GatewayConfig.spec.outbound.port and .ports → the outbound listeners, one per port, as Istio's
 * sidecar has one outbound listener per service port: a Host that names no port names the port
 * the client connected to. Two listeners cannot bind one port, so a port given twice, or also
 * used by a Gateway server, an egress SNI port or a process port, is PC1705 and left out.
 */
import type * as istio from '../config/index.js'
import { formatPath } from '../diag/index.js'
import type * as ir from '../ir/index.js'
import { listenerId } from '../ir/index.js'
import type { DiagSink } from './diagnostics.js'

type OutboundSpec = NonNullable<istio.GatewayConfig['spec']['outbound']>

/** The ports written, `port` first, 0 (off) dropped; duplicates kept for the checks below. */
function writtenPorts(out: OutboundSpec): { port: number; path: istio.Path }[] {
  const ports: { port: number; path: istio.Path }[] = []
  if (out.port !== undefined && out.port !== 0) {
    ports.push({ port: out.port, path: ['spec', 'outbound', 'port'] })
  }
  ;(out.ports ?? []).forEach((port, i) =>
    ports.push({ port, path: ['spec', 'outbound', 'ports', i] }),
  )
  return ports
}

/** Whether GatewayConfig opens an outbound listener at all (mesh-bound routes then apply). */
export function hasOutboundListener(config: istio.GatewayConfig['spec'] | undefined): boolean {
  return config?.outbound !== undefined && writtenPorts(config.outbound).length > 0
}

export interface OutboundListenerInputs {
  readonly gatewayConfig: istio.GatewayConfig | undefined
  readonly settings: ir.GatewaySettings
  /** The Gateway listeners this instance binds (absent in unit tests of egress alone). */
  readonly gatewayListeners?: readonly ir.Listener[]
  readonly sink?: DiagSink
}

/** Two listeners collide when their ports are equal and one address covers the other. */
function overlaps(a: string, b: string): boolean {
  const any = (x: string): boolean => x === '0.0.0.0' || x === '::'
  return a === b || any(a) || any(b)
}

export function compileOutboundListeners(inputs: OutboundListenerInputs): ir.OutboundListener[] {
  const gc = inputs.gatewayConfig
  const out = gc?.spec.outbound
  if (gc === undefined || out === undefined) return []
  const address = out.address ?? inputs.settings.bindAddress
  const taken = takenPorts(gc.spec, inputs.settings, inputs.gatewayListeners ?? [], address)
  const seen = new Map<number, istio.Path>()
  const listeners: ir.OutboundListener[] = []
  for (const { port, path } of writtenPorts(out)) {
    const first = seen.get(port)
    if (first !== undefined) {
      inputs.sink?.report(
        'PC1705',
        gc,
        path,
        `outbound port ${port} is already given at ${formatPath(first)}; each port opens one outbound listener, list it once`,
      )
      continue
    }
    seen.set(port, path)
    const other = taken.get(port)
    if (other !== undefined) {
      inputs.sink?.report(
        'PC1705',
        gc,
        path,
        `outbound port ${port} is also ${other}; two listeners cannot bind one port, give the outbound listener another`,
      )
      continue
    }
    listeners.push({ id: listenerId(address, port), address, port })
  }
  return listeners
}

/** Ports other listeners of this instance bind, with what binds them (for the message). */
function takenPorts(
  spec: istio.GatewayConfig['spec'],
  settings: ir.GatewaySettings,
  gatewayListeners: readonly ir.Listener[],
  address: string,
): Map<number, string> {
  const taken = new Map<number, string>()
  const process = [
    [settings.admin.port, 'the admin port (spec.admin.port)'],
    [settings.readiness.port, 'the readiness port (spec.readiness.port)'],
    [settings.metrics.port, 'the metrics port (spec.metrics.port)'],
  ] as const
  for (const [port, what] of process) if (port !== 0) taken.set(port, what)
  const egressAddress = spec.egress?.address ?? settings.bindAddress
  if (overlaps(egressAddress, address)) {
    for (const port of spec.egress?.sniPorts ?? []) taken.set(port, 'an egress SNI port (sniPorts)')
    for (const m of spec.egress?.sniPortMappings ?? []) {
      taken.set(m.port, 'an egress SNI port (sniPortMappings)')
    }
  }
  for (const l of gatewayListeners) {
    if (overlaps(l.address, address)) taken.set(l.port, `the Gateway listener ${l.id}`)
  }
  return taken
}
