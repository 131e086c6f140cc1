/**
 * The egress allowlist as a request-path decision, for the outbound listener's HTTP requests
 * and for Hosts no route serves on egress.httpPorts listeners. It runs where the virtual host is
 * chosen (order.ts): an allowed, registered destination takes its default (or mesh) route and
 * the steps after it like any request; a refused one is the 502 local reply; any other allowed
 * destination (wildcard, NONE, ALLOW_ANY, audited) ends in the passthrough forward
 * (passthrough.ts). Every outcome is one request record with the request id.
 */
import { normalizeHost } from '../../lib/index.js'
import { decideEgress, selectVirtualHost, type CompiledVirtualHost } from '../../match/index.js'
import type { PreparedEgressPort } from '../prepared.js'
import type { HostResolver } from '../upstream/host-resolver.js'
import type { RequestContext } from './context.js'
import { observeEgress, replyEgressDenied, type EgressSite } from './egress-outcome.js'
import { forwardPassthrough } from './passthrough.js'

export type { EgressSite } from './egress-outcome.js'

const ALLOWED = new Set(['allowed', 'passthrough', 'audited'])

/**
 * Decides the request by its Host: the virtual host of an allowed, registered destination for
 * order.ts to run, or undefined once the request is answered here (refused) or passed through.
 */
export function routeEgress(
  ctx: RequestContext,
  site: EgressSite,
): CompiledVirtualHost | undefined {
  const host = normalizeHost(ctx.authority) ?? ''
  const port = authorityPort(ctx.authority) ?? site.defaultPort
  const table = site.tables.get(port)
  const vhost = table && selectVirtualHost(table, host)
  // A mesh VirtualService no ServiceEntry backs is served as Istio's sidecar serves it, whatever
  // the allowlist says: it names no destination of its own to allow or refuse.
  if (vhost !== undefined && site.unbacked?.has(vhost.name) === true) {
    ctx.egressGuard = site.guard
    return vhost
  }
  // A short name (`reviews`) is decided as the registered host it stands for.
  const decision = decideEgress(site.matcher, site.aliases?.[host] ?? host, port)
  if (decision.verdict === 'allowed' && vhost !== undefined) {
    observeEgress(ctx, decision, 'http')
    ctx.egressGuard = site.guard
    return vhost
  }
  if (!ALLOWED.has(decision.verdict)) {
    observeEgress(ctx, decision, 'http')
    replyEgressDenied(ctx, 502, decision, decision.reason ?? 'denied')
    return undefined
  }
  forwardPassthrough(ctx, site, decision)
  return undefined
}

/** The site of an egress.httpPorts listener, built once per prepared port. */
export function portSite(port: PreparedEgressPort, resolver: HostResolver): EgressSite {
  return {
    matcher: port.matcher,
    guard: port.guard,
    defaultPort: port.port,
    tables: new Map([[port.port, port.defaults]]),
    resolver,
  }
}

/** The port an authority names (`host:8080`, `[::1]:8080`), or undefined when it names none. */
function authorityPort(authority: string): number | undefined {
  const colon = authority.lastIndexOf(':')
  if (colon < 0 || colon < authority.lastIndexOf(']')) return undefined
  const port = Number(authority.slice(colon + 1))
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : undefined
}
