/** Reports a semantic problem at a field of a resource, with the position of that field. */
import { CODES, formatPath, type DiagCode, type Diagnostic } from '../../diag/index.js'
import type { PathSeg } from '../schema/index.js'
import type { AnyResource, Origin, Path } from '../types.js'

export type Report = (code: DiagCode, path: Path, message: string) => void

export function createReporter(r: AnyResource, diags: Diagnostic[]): Report {
  const resource = { kind: r.kind, namespace: r.metadata.namespace, name: r.metadata.name }
  return (code, path, message) => {
    const written = asWritten(r.origin, path)
    diags.push({
      code,
      severity: CODES[code].severity,
      message,
      resource,
      path: formatPath(written),
      loc: r.origin.locate(written),
    })
  }
}

function sameLoc(a: { line: number; col: number }, b: { line: number; col: number }): boolean {
  return a.line === b.line && a.col === b.col
}

/**
 * The checks see camelCase field names, but protobuf JSON lets users write `prefix_rewrite`.
 * Rewrites each segment to the spelling the document uses, so the path and position shown are
 * the ones the user wrote. A segment that exists in neither spelling is kept as is.
 */
function asWritten(origin: Origin, path: Path): Path {
  const out: PathSeg[] = []
  let parent = origin.locate(out)
  for (const seg of path) {
    let chosen = seg
    if (
      typeof seg === 'string' &&
      /[A-Z]/.test(seg) &&
      sameLoc(origin.locate([...out, seg]), parent)
    ) {
      const snake = seg.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
      if (!sameLoc(origin.locate([...out, snake]), parent)) chosen = snake
    }
    out.push(chosen)
    parent = origin.locate(out)
  }
  return out
}

/** `spec.http[0]` → `spec.http[0].route`: path helpers keep call sites short. */
export function at(base: Path, ...rest: PathSeg[]): Path {
  return [...base, ...rest]
}
