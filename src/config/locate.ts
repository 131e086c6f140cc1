/** Maps field paths to line:col through the YAML node ranges. */
import { isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml'

/** What positions need from a LineCounter (a shifted one, for a document parsed on its own). */
export type LinePositions = Pick<LineCounter, 'linePos'>
import type { Loc } from '../diag/index.js'
import type { Path } from './schema/index.js'

function child(node: unknown, seg: string | number): { value: unknown; key: unknown } | undefined {
  if (isMap(node)) {
    for (const item of node.items) {
      if (isPair(item) && isScalar(item.key) && String(item.key.value) === String(seg)) {
        return { value: item.value, key: item.key }
      }
    }
    return undefined
  }
  if (isSeq(node) && typeof seg === 'number') {
    const v = node.items[seg]
    return v === undefined ? undefined : { value: v, key: v }
  }
  return undefined
}

function rangeStart(n: unknown): number | undefined {
  const r = (n as Node | null | undefined)?.range
  return r === undefined || r === null ? undefined : r[0]
}

/**
 * Position of `path` in `doc`: the value's position, or the key's when `atKey` (unknown
 * fields). Falls back to the deepest existing parent.
 */
export function locateIn(
  doc: Document,
  lines: LinePositions,
  file: string,
  path: Path,
  atKey = false,
): Loc {
  let node: unknown = doc.contents
  let best = rangeStart(node) ?? 0
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!
    const c = child(node, seg)
    if (c === undefined) break
    const last = i === path.length - 1
    const start = rangeStart(last && atKey ? c.key : c.value) ?? rangeStart(c.key)
    if (start !== undefined) best = start
    node = c.value
  }
  const pos = lines.linePos(best)
  return { file, line: pos.line, col: pos.col }
}
