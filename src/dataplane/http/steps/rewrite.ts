/** The route's path rewrite (rewrite.uri / uriRegexRewrite); the query always stays. */
import { matchedPrefixLengths, preparePathRewrite, rewritePath } from '../rewrite.js'
import type { PathRewrite } from '../rewrite.js'
import type { RequestStep } from '../step.js'

interface Rewrite {
  readonly rewrite: PathRewrite
  readonly prefixLengths: readonly number[]
}

export const rewriteStep: RequestStep<Rewrite> = {
  name: 'rewrite',
  prepare({ route }) {
    const rewrite = preparePathRewrite(route.rewrite, route.id)
    return rewrite === undefined
      ? undefined
      : { rewrite, prefixLengths: matchedPrefixLengths(route) }
  },
  run(ctx, rw) {
    const prefixLength = ctx.matchIndex < 0 ? 1 : (rw.prefixLengths[ctx.matchIndex] ?? 1)
    const path = rewritePath(rw.rewrite, ctx.path, prefixLength)
    ctx.upstreamPath = ctx.query === '' ? path : `${path}?${ctx.query}`
    return true
  },
}
