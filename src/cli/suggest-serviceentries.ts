/**
 * Egress destinations seen without a ServiceEntry → ServiceEntry YAML that `validate` accepts and
 * that, applied, lets the same traffic out under REGISTRY_ONLY enforcement. One entry per exact
 * host (a wildcard is a policy decision, never guessed), its ports with the protocol the traffic
 * looked like, resolution DNS. IP literals and private-range refusals need an `addresses` or
 * STATIC decision a person should make, so they are listed as skipped instead.
 *
 * A host an existing entry already registers never gets a second entry: a second entry for the
 * same host would compete with the first for its routes. Its missing ports are proposed as
 * additions to that entry instead, named by file:line.
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

/** A ServiceEntry of the running configuration, as `suggest` needs it. */
export interface ExistingEntry {
  /** `<namespace>/<name>`. */
  readonly name: string
  /** Lower-case names and `*.suffix` wildcards. */
  readonly hosts: readonly string[]
  readonly ports: readonly number[]
  /** `file:line` of the entry's hosts. */
  readonly where: string
}

/** Ports to add to an existing entry, instead of a second entry for its host. */
export interface Addition {
  readonly entry: ExistingEntry
  readonly host: string
  readonly ports: readonly { readonly number: number; readonly protocol: SeenProtocol }[]
}

export interface Suggestion {
  readonly yaml: string
  /** `host:port (why)` for destinations no ServiceEntry is suggested for. */
  readonly skipped: readonly string[]
  readonly additions: readonly Addition[]
}

/** The existing entry registering `host`: an exact host first, then the longest wildcard. */
function entryFor(host: string, existing: readonly ExistingEntry[]): ExistingEntry | undefined {
  let best: ExistingEntry | undefined
  let bestRank = -1
  for (const e of existing) {
    for (const h of e.hosts) {
      const rank =
        h === host ? 1000 : h.startsWith('*.') && host.endsWith(h.slice(1)) ? h.length : -1
      if (rank > bestRank) {
        best = e
        bestRank = rank
      }
    }
  }
  return best
}

/** The additions as text for stderr: where each goes and the YAML to add under spec.ports. */
export function formatAdditions(additions: readonly Addition[]): string {
  return additions
    .map((a) =>
      [
        `# ${a.host}: add to ServiceEntry ${a.entry.name} (${a.entry.where}) under spec.ports:`,
        ...a.ports.map(
          (p) =>
            `#   - {number: ${p.number}, name: ${p.protocol.toLowerCase()}-${p.number}, protocol: ${p.protocol}}`,
        ),
        '',
      ].join('\n'),
    )
    .join('')
}

const IP_LIKE = /^[0-9.]+$|:/
/** Reasons a ServiceEntry with hosts and ports would fix. */
const FIXABLE = new Set([undefined, 'host_not_registered', 'port_not_registered'])
const MAX_NAME = 63

function resourceName(host: string): string {
  const base = `egress-${host.replace(/[^a-z0-9-]+/g, '-')}`.replace(/-+/g, '-').replace(/-$/, '')
  return base.length <= MAX_NAME ? base : base.slice(0, MAX_NAME).replace(/-$/, '')
}

export function suggestServiceEntries(
  seen: readonly SeenDestination[],
  existing: readonly ExistingEntry[] = [],
): Suggestion {
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
  const additions: Addition[] = []
  for (const host of [...byHost.keys()].sort()) {
    const entry = entryFor(host, existing)
    if (entry === undefined) continue
    const ports = [...byHost.get(host)!.entries()]
      .filter(([number]) => !entry.ports.includes(number))
      .sort((a, b) => a[0] - b[0])
      .map(([number, protocol]) => ({ number, protocol }))
    if (ports.length > 0) additions.push({ entry, host, ports })
    byHost.delete(host)
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
  return { yaml: docs.join('---\n'), skipped, additions }
}
