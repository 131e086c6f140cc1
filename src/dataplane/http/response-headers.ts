import type { OutgoingHttpHeaders } from 'node:http'
import { util as undiciUtil } from 'undici'
import type { HeaderPlan } from './header-plan.js'
import { RESPONSE_HEADERS_NOT_FORWARDED, isProxyHeader, nominatedHeaders } from './hop-by-hop.js'

/** A header object without a prototype, so names like `constructor` are plain keys. */
export function createHeaderObject(): OutgoingHttpHeaders {
  return Object.create(null) as OutgoingHttpHeaders
}

export function addHeader(headers: OutgoingHttpHeaders, name: string, value: string): void {
  const prev = headers[name]
  if (prev === undefined) headers[name] = value
  else if (Array.isArray(prev)) prev.push(value)
  else headers[name] = [String(prev), value]
}

/** Route/destination `headers.response` operations. */
export function applyResponsePlan(headers: OutgoingHttpHeaders, plan: HeaderPlan): void {
  if (plan.isEmpty) return
  for (const name of plan.drop) Reflect.deleteProperty(headers, name)
  for (const [name, value] of plan.append) addHeader(headers, name, value)
}

/**
 * The downstream response head for an upstream response: upstream headers minus hop-by-hop
 * ones (and whatever its Connection header names), plus x-envoy-upstream-service-time, the
 * route's response operations and, last, the gateway's `server` header (Envoy overwrites it).
 */
export function buildDownstreamResponseHeaders(
  raw: readonly Buffer[],
  plan: HeaderPlan,
  serverHeader: string | undefined,
  serviceTimeMs: number,
): OutgoingHttpHeaders {
  const out = createHeaderObject()
  let connection: string[] | undefined
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = undiciUtil.headerNameToString(raw[i]!)
    const value = raw[i + 1]!.toString('latin1')
    if (RESPONSE_HEADERS_NOT_FORWARDED.has(name) || isProxyHeader(name)) {
      if (name === 'connection') (connection ??= []).push(value)
      continue
    }
    addHeader(out, name, value)
  }
  if (connection !== undefined) {
    for (const name of nominatedHeaders(connection) ?? []) Reflect.deleteProperty(out, name)
  }
  out['x-envoy-upstream-service-time'] = String(serviceTimeMs)
  applyResponsePlan(out, plan)
  if (serverHeader !== undefined) out.server = serverHeader
  return out
}
