/**
 * Istio Headers → ir.HeaderRules (route.go TranslateHeadersOperations). Names are lower-cased
 * and sorted, as Istio sorts them. Pseudo-headers and `host` cannot be changed this way: a
 * `:authority`/`host` set (or add) becomes an authority rewrite, and the rest are dropped.
 */
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'

type Operations = NonNullable<istio.Headers['request']>

const NO_OPERATIONS: ir.HeaderOperations = { set: [], add: [], remove: [] }
export const NO_HEADER_RULES: ir.HeaderRules = {
  request: NO_OPERATIONS,
  response: NO_OPERATIONS,
}

function isInternalHeader(name: string): boolean {
  return name.startsWith(':') || name === 'host'
}

function isAuthorityHeader(name: string): boolean {
  return name === ':authority' || name === 'host'
}

function pairs(values: Readonly<Record<string, string>> | undefined): [string, string][] {
  return Object.entries(values ?? {})
    .map(([k, v]): [string, string] => [k.toLowerCase(), v])
    .filter(([k]) => !isInternalHeader(k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

function compileOperations(ops: Operations | undefined): ir.HeaderOperations {
  if (ops === undefined) return NO_OPERATIONS
  return {
    set: pairs(ops.set),
    add: pairs(ops.add),
    remove: (ops.remove ?? []).map((n) => n.toLowerCase()).filter((n) => !isInternalHeader(n)),
  }
}

export function compileHeaderRules(headers: istio.Headers | undefined): ir.HeaderRules {
  if (headers === undefined) return NO_HEADER_RULES
  return {
    request: compileOperations(headers.request),
    response: compileOperations(headers.response),
  }
}

/** The authority a request `set` (preferred) or `add` of `:authority`/`host` asks for. */
export function authorityFromHeaders(headers: istio.Headers | undefined): string | undefined {
  const find = (m: Readonly<Record<string, string>> | undefined): string | undefined => {
    let found: string | undefined
    for (const [k, v] of Object.entries(m ?? {})) {
      if (isAuthorityHeader(k.toLowerCase())) found = v
    }
    return found
  }
  return find(headers?.request?.set) ?? find(headers?.request?.add)
}
