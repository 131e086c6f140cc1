/**
 * Egress destinations seen without a ServiceEntry → ServiceEntry YAML that `validate` accepts and
 * that, applied, lets the same traffic out under REGISTRY_ONLY enforcement. One entry per exact
 * host (a wildcard is a policy decision, never guessed), its ports with the protocol the traffic
 * looked like, resolution DNS. IP literals and private-range refusals need an `addresses` or
 * STATIC decision a person should make, so they are listed as skipped instead.
 */

export type SeenProtocol = 'HTTP' | 'TLS' | 'TCP'

export interface SeenDestination {
  readonly host: string
  readonly port: number
  readonly protocol: SeenProtocol
  /** The allowlist's reason (host_not_registered, port_not_registered, ...), if any. */
  readonly reason: string | undefined
  readonly count: number
}

export interface Suggestion {
  readonly yaml: string
  /** `host:port (why)` for destinations no ServiceEntry is suggested for. */
  readonly skipped: readonly string[]
}

const IP_LIKE = /^[0-9.]+$|:/
/** Reasons a ServiceEntry with hosts and ports would fix. */
const FIXABLE = new Set([undefined, 'host_not_registered', 'port_not_registered'])
const MAX_NAME = 63

function resourceName(host: string): string {
  const base = `egress-${host.replace(/[^a-z0-9-]+/g, '-')}`.replace(/-+/g, '-').replace(/-$/, '')
  return base.length <= MAX_NAME ? base : base.slice(0, MAX_NAME).replace(/-$/, '')
}

export function suggestServiceEntries(seen: readonly SeenDestination[]): Suggestion {
  const byHost = new Map<string, Map<number, SeenProtocol>>()
  const skipped: string[] = []
  for (const d of seen) {
    const host = d.host.toLowerCase().replace(/\.$/, '')
    if (IP_LIKE.test(host) || !FIXABLE.has(d.reason)) {
      const line = `${host}:${d.port} (${d.reason ?? 'ip address'})`
      if (!skipped.includes(line)) skipped.push(line)
      continue
    }
    let ports = byHost.get(host)
    if (ports === undefined) byHost.set(host, (ports = new Map<number, SeenProtocol>()))
    // A port carries one protocol; the first seen wins, HTTP over the rest when both were seen.
    const had = ports.get(d.port)
    if (had === undefined || d.protocol === 'HTTP') ports.set(d.port, d.protocol)
  }
  const docs = [...byHost.keys()].sort().map((host) => {
    const ports = [...byHost.get(host)!.entries()].sort((a, b) => a[0] - b[0])
    return [
      'apiVersion: networking.istio.io/v1',
      'kind: ServiceEntry',
      'metadata:',
      `  name: ${resourceName(host)}`,
      'spec:',
      '  hosts:',
      `  - ${host}`,
      '  location: MESH_EXTERNAL',
      '  ports:',
      ...ports.flatMap(([number, protocol]) => [
        `  - number: ${number}`,
        `    name: ${protocol.toLowerCase()}-${number}`,
        `    protocol: ${protocol}`,
      ]),
      '  resolution: DNS',
      '',
    ].join('\n')
  })
  return { yaml: docs.join('---\n'), skipped }
}
