/**
 * The egress allowlist decision: may a client reach host:port through the gateway? Pure; the
 * data plane asks before any upstream connection exists, and asks again with the address it
 * resolved (checkEgressAddress) so the checked address is the one it connects to.
 */
import {
  cidrContains,
  hostCovers,
  isNonPublicAddress,
  parseIp,
  type ParsedIp,
} from '../lib/index.js'
import type * as ir from '../ir/index.js'

/** What happens to the request: let through (allowed/passthrough/audited) or refused. */
export type EgressVerdict = 'allowed' | 'passthrough' | 'audited' | 'denied'

/** Why enforcement refuses (or, in audit mode, would refuse) a destination. */
export type EgressReason =
  | 'host_not_registered'
  | 'port_not_registered'
  | 'ip_not_registered'
  | 'outside_sidecar_scope'
  | 'private_address'

export interface EgressDecision {
  readonly verdict: EgressVerdict
  /** Set for denied and audited decisions. */
  readonly reason: EgressReason | undefined
  /** Lower-case host as matched (brackets of an IPv6 literal removed). */
  readonly host: string
  readonly port: number
  readonly service: ir.EgressService | undefined
  readonly servicePort: ir.EgressPort | undefined
  /** What Istio metrics call the destination cluster: an outbound cluster, or the two fallbacks. */
  readonly cluster: string
}

export const BLACK_HOLE_CLUSTER = 'BlackHoleCluster'
export const PASSTHROUGH_CLUSTER = 'PassthroughCluster'

interface Candidate {
  readonly service: ir.EgressService
  readonly pattern: string
  readonly rank: number
}

/** The registry in lookup form, built once per snapshot. */
export interface EgressMatcher {
  readonly egress: ir.Egress
  readonly exact: ReadonlyMap<string, readonly Candidate[]>
  /** Wildcard patterns, longest (most specific) first, file order among equals. */
  readonly wildcards: readonly Candidate[]
}

export function compileEgressMatcher(egress: ir.Egress): EgressMatcher {
  const exact = new Map<string, Candidate[]>()
  const wildcards: Candidate[] = []
  for (const service of egress.services) {
    for (const pattern of service.hosts) {
      if (pattern.startsWith('*')) wildcards.push({ service, pattern, rank: pattern.length })
      else {
        let list = exact.get(pattern)
        if (list === undefined) exact.set(pattern, (list = []))
        list.push({ service, pattern, rank: 1000 })
      }
    }
  }
  wildcards.sort((a, b) => b.rank - a.rank)
  return { egress, exact, wildcards }
}

function normalize(host: string): string {
  let h = host.toLowerCase()
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1)
  if (h.endsWith('.')) h = h.slice(0, -1)
  return h
}

function inScope(scope: readonly string[] | undefined, host: string): boolean {
  if (scope === undefined) return true
  return scope.some((p) => p === '*' || p === host || (p.startsWith('*') && hostCovers(p, host)))
}

function refuse(
  m: EgressMatcher,
  host: string,
  port: number,
  reason: EgressReason,
  service?: ir.EgressService,
): EgressDecision {
  const policy = m.egress.policy
  // ALLOW_ANY passes what the registry does not know, as Istio's PassthroughCluster does;
  // address-based refusals hold in every mode.
  if (policy.mode === 'ALLOW_ANY' && reason !== 'private_address') {
    return {
      verdict: 'passthrough',
      reason: undefined,
      host,
      port,
      service: undefined,
      servicePort: undefined,
      cluster: PASSTHROUGH_CLUSTER,
    }
  }
  const verdict: EgressVerdict = policy.enforcement === 'audit' ? 'audited' : 'denied'
  return {
    verdict,
    reason,
    host,
    port,
    service,
    servicePort: undefined,
    cluster: verdict === 'denied' ? BLACK_HOLE_CLUSTER : PASSTHROUGH_CLUSTER,
  }
}

function allow(
  host: string,
  port: number,
  service: ir.EgressService,
  servicePort: ir.EgressPort,
  pattern: string,
): EgressDecision {
  return {
    verdict: 'allowed',
    reason: undefined,
    host,
    port,
    service,
    servicePort,
    cluster: `outbound|${port}||${pattern}`,
  }
}

function decideIp(m: EgressMatcher, host: string, ip: ParsedIp, port: number): EgressDecision {
  for (const service of m.egress.services) {
    if (!service.addresses.some((a) => cidrContains(a, ip))) continue
    const sp = service.ports.find((p) => p.number === port)
    if (sp !== undefined) return allow(host, port, service, sp, service.hosts[0] ?? host)
  }
  const isPrivate = !m.egress.policy.allowPrivateAddresses && isNonPublicAddress(ip)
  return refuse(m, host, port, isPrivate ? 'private_address' : 'ip_not_registered')
}

/**
 * The decision for a destination named by Host, SNI, an absolute URL or a CONNECT target. Among
 * the ServiceEntries whose hosts cover the name, the most specific one that lists the port wins.
 */
export function decideEgress(m: EgressMatcher, rawHost: string, port: number): EgressDecision {
  const host = normalize(rawHost)
  const ip = parseIp(host)
  if (ip !== undefined) return decideIp(m, host, ip, port)
  const scoped = inScope(m.egress.policy.scope, host)
  let covered: ir.EgressService | undefined
  const exact = m.exact.get(host)
  if (exact !== undefined) {
    for (const c of exact) {
      covered ??= c.service
      const sp = c.service.ports.find((p) => p.number === port)
      if (sp !== undefined && scoped) return allow(host, port, c.service, sp, c.pattern)
    }
  }
  for (const c of m.wildcards) {
    if (!hostCovers(c.pattern, host)) continue
    covered ??= c.service
    const sp = c.service.ports.find((p) => p.number === port)
    if (sp !== undefined && scoped) return allow(host, port, c.service, sp, c.pattern)
  }
  if (covered === undefined) return refuse(m, host, port, 'host_not_registered')
  if (!scoped) return refuse(m, host, port, 'outside_sidecar_scope', covered)
  return refuse(m, host, port, 'port_not_registered', covered)
}

/**
 * Checks the address a name resolved to before connecting: a non-public address is refused
 * unless the policy allows them or the matched ServiceEntry lists it (addresses or STATIC
 * endpoints). Returns the decision unchanged when the address may be used.
 */
export function checkEgressAddress(
  m: EgressMatcher,
  decision: EgressDecision,
  address: string,
): EgressDecision {
  if (m.egress.policy.allowPrivateAddresses) return decision
  const ip = parseIp(address)
  if (ip === undefined || !isNonPublicAddress(ip)) return decision
  const s = decision.service
  if (s !== undefined) {
    if (s.addresses.some((a) => cidrContains(a, ip))) return decision
    if (s.endpointAddresses.some((a) => cidrContains(a, ip))) return decision
  }
  return refuse(m, decision.host, decision.port, 'private_address', s)
}
