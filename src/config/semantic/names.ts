/**
 * Name rules shared by several kinds: header names (RFC 7230 tokens), DNS labels, workload
 * selectors. Messages follow Istio's validation so users can search for them.
 */
import type { Path } from '../types.js'
import { at, type Report } from './report.js'

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const PSEUDO_HEADERS = new Set([':method', ':scheme', ':authority', ':path', ':status'])
const JWT_CLAIM_PREFIX = '@request.auth.claims.'
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

export function isDnsLabel(v: string): boolean {
  return v.length <= 63 && DNS1123_LABEL.test(v)
}

export function isAuthorityHeader(name: string): boolean {
  const n = name.toLowerCase()
  return n === ':authority' || n === 'host'
}

function isInternalHeader(name: string): boolean {
  return name.startsWith(':') || name.toLowerCase() === 'host'
}

/** A header name in a match (`headers`, `withoutHeaders`): a token, a pseudo-header or a JWT claim. */
export function headerMatchNameProblem(name: string): string | undefined {
  if (name === '') return 'header name cannot be empty'
  if (name.startsWith(JWT_CLAIM_PREFIX) || PSEUDO_HEADERS.has(name)) return undefined
  return TOKEN.test(name) ? undefined : `header name "${name}" is not a valid header name`
}

/**
 * A header name that a route sets, adds or removes. Only request `set`/`add` may name the
 * authority (`:authority` or `host`); no operation may touch other pseudo-headers.
 */
export function headerOperationNameProblem(
  name: string,
  allowAuthority: boolean,
): string | undefined {
  if (name === '') return 'header name cannot be empty'
  if (!TOKEN.test(name.startsWith(':') ? name.slice(1) : name)) {
    return `"${name}" is not a valid header name`
  }
  if (allowAuthority && isAuthorityHeader(name)) return undefined
  if (name.toLowerCase() === 'host') {
    return `invalid header "${name}": only headers.request set/add may change the authority (or use rewrite.authority)`
  }
  if (isInternalHeader(name)) return `invalid header "${name}": header cannot have ":" prefix`
  return undefined
}

interface HeaderOps {
  readonly set?: Readonly<Record<string, string>>
  readonly add?: Readonly<Record<string, string>>
  readonly remove?: readonly string[]
}

/** Checks `headers.request` / `headers.response` of a route or a destination. */
export function checkHeaderOperations(
  headers: { readonly request?: HeaderOps; readonly response?: HeaderOps } | undefined,
  path: Path,
  report: Report,
): void {
  if (headers === undefined) return
  for (const side of ['request', 'response'] as const) {
    const ops = headers[side]
    if (ops === undefined) continue
    const allowAuthority = side === 'request'
    for (const op of ['set', 'add'] as const) {
      for (const name of Object.keys(ops[op] ?? {})) {
        const problem = headerOperationNameProblem(name, allowAuthority)
        if (problem !== undefined) report('PC1210', at(path, side, op, name), problem)
      }
    }
    ops.remove?.forEach((name, i) => {
      const problem = headerOperationNameProblem(name, false)
      if (problem !== undefined) report('PC1210', at(path, side, 'remove', i), problem)
    })
  }
}

/** Workload selector labels: Istio rejects empty keys and wildcards in keys or values. */
export function checkSelectorLabels(
  labels: Readonly<Record<string, string>> | undefined,
  path: Path,
  report: Report,
): void {
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (k === '') {
      report('PC1104', at(path, k), `empty key is not supported in selector: "${k}=${v}"`)
    } else if (k.includes('*') || v.includes('*')) {
      report('PC1104', at(path, k), `wildcard is not supported in selector: "${k}=${v}"`)
    }
  }
}
