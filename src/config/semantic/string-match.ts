/**
 * StringMatch helpers: which kind a match is, and Istio's rule that an empty `prefix` or `regex`
 * is refused (Envoy rejects them), except an empty URI prefix, which means "every path".
 */
import type { Path, StringMatch } from '../types.js'
import { at, type Report } from './report.js'

export function matchKind(m: StringMatch): 'exact' | 'prefix' | 'regex' | 'present' {
  if ('exact' in m) return 'exact'
  if ('prefix' in m) return 'prefix'
  if ('regex' in m) return 'regex'
  return 'present'
}

export function matchValue(m: StringMatch): string | undefined {
  if ('exact' in m) return m.exact
  if ('prefix' in m) return m.prefix
  if ('regex' in m) return m.regex
  return undefined
}

export function checkStringMatch(
  m: StringMatch | undefined,
  path: Path,
  where: string,
  report: Report,
  allowEmptyPrefix = false,
): void {
  if (m === undefined) return
  const kind = matchKind(m)
  if (matchValue(m) !== '') return
  if (kind === 'regex') {
    report('PC1116', at(path, 'regex'), `"${where}": regex string match should not be empty`)
  } else if (kind === 'prefix' && !allowEmptyPrefix) {
    report('PC1116', at(path, 'prefix'), `"${where}": prefix string match should not be empty`)
  }
}
