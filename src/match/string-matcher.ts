import type * as ir from '../ir/index.js'
import { compileRe2 } from '../lib/index.js'

/** An ir.StringMatch made ready to run: regexes compiled once, case folded at compile time. */
export type StringMatcher =
  | { readonly kind: 'exact'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly kind: 'prefix'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly kind: 'regex'; readonly regex: RegExp; readonly source: string }
  | { readonly kind: 'present' }

/** Thrown when the IR holds a regex RE2 would refuse; compile/ should have reported it already. */
export class InvalidRouteRegexError extends Error {
  constructor(
    readonly pattern: string,
    readonly reason: string,
    readonly where: string,
  ) {
    super(`${where}: invalid regex ${JSON.stringify(pattern)}: ${reason}`)
    this.name = 'InvalidRouteRegexError'
  }
}

export function compileStringMatch(
  m: ir.StringMatch,
  where: string,
  ignoreCase = false,
): StringMatcher {
  switch (m.kind) {
    case 'exact':
    case 'prefix':
      return { kind: m.kind, value: ignoreCase ? m.value.toLowerCase() : m.value, ignoreCase }
    case 'present':
      return { kind: 'present' }
    case 'regex': {
      const r = compileRe2(m.regex)
      if (!r.ok) throw new InvalidRouteRegexError(m.regex, r.reason, where)
      return { kind: 'regex', regex: r.regex, source: m.regex }
    }
  }
}

/** Tests a value that is present. Presence alone satisfies `present`. */
export function testStringMatch(m: StringMatcher, value: string): boolean {
  switch (m.kind) {
    case 'exact':
      return (m.ignoreCase ? value.toLowerCase() : value) === m.value
    case 'prefix':
      return (m.ignoreCase ? value.toLowerCase() : value).startsWith(m.value)
    case 'regex':
      return m.regex.test(value)
    case 'present':
      return true
  }
}

/** Renders a matcher the way a user wrote it, for explanations. */
export function describeStringMatch(m: StringMatcher): string {
  switch (m.kind) {
    case 'exact':
      return `exact ${JSON.stringify(m.value)}${m.ignoreCase ? ' (ignoring case)' : ''}`
    case 'prefix':
      return `prefix ${JSON.stringify(m.value)}${m.ignoreCase ? ' (ignoring case)' : ''}`
    case 'regex':
      return `regex ${JSON.stringify(m.source)}`
    case 'present':
      return 'present'
  }
}
