import { util as undiciUtil } from '../upstream/undici.js'
import type { HeaderPlan } from './header-plan.js'
import { RESPONSE_HEADERS_NOT_FORWARDED, isProxyHeader, nominatedHeaders } from './hop-by-hop.js'

/**
 * Response heads are flat [name, value, ...] lists: node's writeHead takes them without building
 * an object, and repeated names (set-cookie) stay separate lines.
 */
export type HeaderList = string[]

/** Route/destination `headers.response` operations, then the gateway's `server` header. */
export function finishResponseHeaders(
  list: HeaderList,
  plan: HeaderPlan | undefined,
  serverHeader: string | undefined,
): HeaderList {
  let out = list
  if (plan !== undefined && !plan.isEmpty) {
    out = plan.drop.size === 0 ? list : dropNames(list, plan.drop)
    for (const [name, value] of plan.append) out.push(name, value)
  }
  // Envoy overwrites the upstream's `server` after every other mutation.
  if (serverHeader !== undefined) out.push('server', serverHeader)
  return out
}

/**
 * The downstream response head for an upstream response: upstream headers minus hop-by-hop
 * ones (and whatever its Connection header names), plus x-envoy-upstream-service-time, the
 * route's response operations and, last, the gateway's `server` header.
 */
export function buildDownstreamResponseHeaders(
  raw: readonly (Buffer | string)[],
  plan: HeaderPlan,
  serverHeader: string | undefined,
  serviceTimeMs: number,
): HeaderList {
  let out: HeaderList = []
  let connection: string | undefined
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = undiciUtil.headerNameToString(raw[i]!)
    if (RESPONSE_HEADERS_NOT_FORWARDED.has(name) || isProxyHeader(name)) {
      if (name === 'connection') connection = raw[i + 1]!.toString('latin1')
      continue
    }
    if (serverHeader !== undefined && name === 'server') continue
    out.push(name, raw[i + 1]!.toString('latin1'))
  }
  if (connection !== undefined) {
    const nominated = nominatedHeaders([connection])
    if (nominated !== undefined) out = dropNames(out, nominated)
  }
  out.push('x-envoy-upstream-service-time', String(serviceTimeMs))
  return finishResponseHeaders(out, plan, serverHeader)
}

function dropNames(list: HeaderList, names: ReadonlySet<string>): HeaderList {
  const out: HeaderList = []
  for (let i = 0; i + 1 < list.length; i += 2) {
    if (!names.has(list[i]!)) out.push(list[i]!, list[i + 1]!)
  }
  return out
}

export { headerListToObject } from '../record/header-list.js'
