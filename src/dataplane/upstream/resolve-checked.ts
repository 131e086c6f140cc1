/**
 * Resolve once, check the answer, connect to what was checked: the one place an egress name
 * becomes an address, so a second DNS answer (rebinding) can never reach the socket.
 */
import { isIpLiteral } from '../../lib/index.js'
import { checkEgressAddress, type EgressDecision, type EgressMatcher } from '../../match/index.js'
import type { HostResolver } from '../upstream/host-resolver.js'

export type CheckedTarget =
  | { readonly address: string; readonly port: number; readonly decision: EgressDecision }
  | { readonly error: 'dns_resolution_failed' }

/**
 * The address and port to connect to for an allowed decision, and the decision after the
 * address check. A STATIC entry's endpoints are used as they are, without asking DNS.
 */
export async function resolveChecked(
  matcher: EgressMatcher,
  resolver: HostResolver,
  d: EgressDecision,
): Promise<CheckedTarget> {
  const endpoints = d.servicePort?.endpoints
  if (endpoints !== undefined && endpoints.length > 0) {
    const ep = endpoints[Math.floor(Math.random() * endpoints.length)]!
    return {
      address: ep.address,
      port: ep.port,
      decision: checkEgressAddress(matcher, d, ep.address),
    }
  }
  const port = d.servicePort?.targetPort ?? d.port
  let address = d.host
  if (!isIpLiteral(d.host)) {
    try {
      const answer = await resolver.resolve(d.host)
      address = answer.addresses[0]!
    } catch {
      return { error: 'dns_resolution_failed' }
    }
  }
  return { address, port, decision: checkEgressAddress(matcher, d, address) }
}
