import type * as ir from '../../ir/index.js'
import { compileRe2 } from '../../lib/index.js'

/** A route's path rewrite, ready to run. */
export interface PathRewrite {
  readonly prefix: string | undefined
  readonly regex: RegExp | undefined
  readonly replacement: string
}

/** Compiles rewrite.uri / uriRegexRewrite once. Throws on a regex RE2 refuses. */
export function preparePathRewrite(
  rewrite: ir.UriRewrite | undefined,
  where: string,
): PathRewrite | undefined {
  if (rewrite === undefined) return undefined
  let regex: RegExp | undefined
  if (rewrite.regex !== undefined) {
    const r = compileRe2(rewrite.regex.match, { fullMatch: false })
    if (!r.ok)
      throw new Error(`${where}: invalid uriRegexRewrite ${rewrite.regex.match}: ${r.reason}`)
    // Every match in the path is replaced, as RE2 GlobalReplace does.
    regex = new RegExp(r.regex.source, `${r.regex.flags}g`)
  }
  if (rewrite.prefix === undefined && regex === undefined) return undefined
  return { prefix: rewrite.prefix, regex, replacement: rewrite.regex?.rewrite ?? '' }
}

/**
 * Characters of the path each match entry covers when its prefix is swapped: the prefix length,
 * 1 when the entry has no uri condition (Istio matches it as prefix `/`), -1 (the whole path)
 * for exact and regex uris.
 */
export function matchedPrefixLengths(route: ir.HttpRoute): readonly number[] {
  return route.match.map((m) => {
    if (m.uri === undefined) return 1
    return m.uri.kind === 'prefix' ? m.uri.value.length : m.uri.kind === 'present' ? 1 : -1
  })
}

/** The upstream path (query not included): prefix swap, or regex substitution. */
export function rewritePath(rw: PathRewrite, path: string, prefixLength: number): string {
  if (rw.prefix !== undefined) {
    return prefixLength < 0 ? rw.prefix : rw.prefix + path.slice(prefixLength)
  }
  if (rw.regex !== undefined) return path.replace(rw.regex, rw.replacement)
  return path
}
