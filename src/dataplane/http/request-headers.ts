import type { HeaderPlan } from './header-plan.js'
import { REQUEST_HEADERS_NOT_FORWARDED, isProxyHeader, nominatedHeaders } from './hop-by-hop.js'

export interface ForwardingValues {
  /** Host for the upstream request. */
  readonly authority: string
  readonly forwardedFor: string
  readonly forwardedProto: string
  readonly requestId: string
  /** The client's address when it is external (Envoy's x-envoy-external-address). */
  readonly externalAddress: string | undefined
}

/**
 * The upstream request head as a flat [name, value, ...] list (undici's cheapest form):
 * client headers minus hop-by-hop ones, those the Connection header names, `x-envoy-*` from
 * the client and those the route plan drops; then the gateway's own headers and the plan's
 * additions. `x-envoy-attempt-count` is always the last pair, so a retry rewrites one slot.
 */
export function buildUpstreamRequestHeaders(
  raw: readonly string[],
  connection: string | undefined,
  plan: HeaderPlan,
  v: ForwardingValues,
): string[] {
  const nominated = connection === undefined ? undefined : nominatedHeaders([connection])
  const checkPlan = !plan.isEmpty
  const out: string[] = []
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase()
    if (REQUEST_HEADERS_NOT_FORWARDED.has(name)) continue
    if (isProxyHeader(name) || name.startsWith('x-envoy-')) continue
    if (nominated?.has(name) === true) continue
    if (checkPlan && plan.drop.has(name)) continue
    out.push(name, raw[i + 1]!)
  }
  out.push('host', v.authority)
  if (!checkPlan || !plan.drop.has('x-forwarded-for')) out.push('x-forwarded-for', v.forwardedFor)
  if (!checkPlan || !plan.drop.has('x-forwarded-proto')) {
    out.push('x-forwarded-proto', v.forwardedProto)
  }
  if (!checkPlan || !plan.drop.has('x-request-id')) out.push('x-request-id', v.requestId)
  if (v.externalAddress !== undefined) out.push('x-envoy-external-address', v.externalAddress)
  if (checkPlan) for (const [name, value] of plan.append) out.push(name, value)
  out.push('x-envoy-attempt-count', '1')
  return out
}

/** Sets the attempt number in a head built by buildUpstreamRequestHeaders. */
export function setAttemptCount(headers: string[], attempt: number): void {
  headers[headers.length - 1] = String(attempt)
}
