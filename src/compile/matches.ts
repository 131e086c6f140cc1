/** Istio HTTPMatchRequest → ir.RequestMatch (pilot/pkg/networking/core/route/route.go). */
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'

/** `{}` and `regex: "*"` are presence matches in Istio: `*` is not treated as RE2. */
export function compileStringMatch(m: istio.StringMatch): ir.StringMatch {
  if ('exact' in m) return { kind: 'exact', value: m.exact }
  if ('prefix' in m) return { kind: 'prefix', value: m.prefix }
  if ('regex' in m && m.regex !== '*') return { kind: 'regex', regex: m.regex }
  return { kind: 'present' }
}

function byName<T extends { readonly name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0
}

export function compileRequestMatch(m: istio.HTTPMatchRequest): ir.RequestMatch {
  const headers: ir.HeaderMatch[] = []
  for (const [name, sm] of Object.entries(m.headers ?? {})) {
    headers.push({ name: name.toLowerCase(), match: compileStringMatch(sm), invert: false })
  }
  for (const [name, sm] of Object.entries(m.withoutHeaders ?? {})) {
    headers.push({ name: name.toLowerCase(), match: compileStringMatch(sm), invert: true })
  }
  // Conditions are ANDed, so the order does not matter; sorting (as Istio does) keeps the
  // output independent of how the YAML happened to order its keys.
  headers.sort(byName)
  const queryParams = Object.entries(m.queryParams ?? {})
    .map(([name, sm]) => ({ name, match: compileStringMatch(sm) }))
    .sort(byName)
  return {
    ...(m.name !== undefined ? { name: m.name } : {}),
    ...(m.uri !== undefined ? { uri: compileStringMatch(m.uri) } : {}),
    ignoreUriCase: m.ignoreUriCase ?? false,
    ...(m.scheme !== undefined ? { scheme: compileStringMatch(m.scheme) } : {}),
    ...(m.method !== undefined ? { method: compileStringMatch(m.method) } : {}),
    ...(m.authority !== undefined ? { authority: compileStringMatch(m.authority) } : {}),
    headers,
    queryParams,
  }
}
