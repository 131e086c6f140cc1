/** Istio HTTPRewrite → ir.UriRewrite. */
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'

/**
 * Converts an RE2 substitution (Envoy's regex_rewrite: `\1` groups, `\0` the whole match, `\\`
 * a backslash) to JavaScript's String.replace syntax, so nothing is translated per request.
 * A literal `$` must be doubled; a group followed by a digit is written `$0N` so `\12` stays
 * "group 1, then 2".
 */
export function re2SubstitutionToJs(rewrite: string): string {
  let out = ''
  for (let i = 0; i < rewrite.length; i++) {
    const c = rewrite[i]!
    if (c === '$') {
      out += '$$'
      continue
    }
    if (c !== '\\' || i + 1 >= rewrite.length) {
      out += c
      continue
    }
    const next = rewrite[i + 1]!
    if (next === '\\') {
      out += '\\'
      i++
    } else if (next >= '0' && next <= '9') {
      const followedByDigit = /[0-9]/.test(rewrite[i + 2] ?? '')
      out += next === '0' ? '$&' : followedByDigit ? `$0${next}` : `$${next}`
      i++
    } else out += c
  }
  return out
}

export function compileRewrite(rewrite: istio.HTTPRoute['rewrite']): ir.UriRewrite | undefined {
  if (rewrite === undefined) return undefined
  if (rewrite.uriRegexRewrite !== undefined) {
    const { match, rewrite: substitution } = rewrite.uriRegexRewrite
    return { regex: { match, rewrite: re2SubstitutionToJs(substitution) } }
  }
  if (rewrite.uri !== undefined && rewrite.uri !== '') return { prefix: rewrite.uri }
  return undefined
}
