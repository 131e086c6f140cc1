import { checkEgressAddress, decideEgress } from '../../match/index.js'
import { denialBody, EGRESS_HEADER, EGRESS_REASON_HEADER } from '../record/egress-denial.js'
import type { UpstreamEndpoint } from '../upstream/endpoint.js'
import type { RequestContext } from './context.js'
import { Flag } from '../record/flags.js'
import { sendLocalReply } from './local-reply.js'

const PRIVATE_ADDRESS_HEADERS = [
  EGRESS_HEADER,
  'denied',
  EGRESS_REASON_HEADER,
  'private_address',
] as const

/**
 * Egress listeners: a cluster's resolved address passes the allowlist's address check (a
 * non-public address needs allowPrivateAddresses or a ServiceEntry listing it) before anything
 * connects, for a forward and a tunnel alike; a refusal is the egress 502 (answered here, true).
 * Audit mode lets it through.
 */
export function isRefusedEgressEndpoint(ctx: RequestContext, endpoint: UpstreamEndpoint): boolean {
  const guard = ctx.egressGuard
  const dest = ctx.destination?.destination
  if (guard === undefined || dest === undefined) return false
  const decision = decideEgress(guard.matcher, dest.host, dest.port)
  const checked = checkEgressAddress(guard.matcher, decision, endpoint.ip)
  if (checked === decision || checked.verdict !== 'denied') return false
  ctx.upstreamHost = endpoint.address
  sendLocalReply(
    ctx,
    502,
    Flag.EG,
    'egress_denied:private_address',
    denialBody(checked, 'private_address'),
    undefined,
    PRIVATE_ADDRESS_HEADERS,
  )
  return true
}
