/**
 * A compact stand-in for a parsed YAML document, kept by a resource's Origin so it can point at
 * its fields after the document itself is gone. Holding the `yaml` Document (every node with its
 * source tokens) cost about 19 KB per VirtualService, for the whole life of the process; this
 * index keeps one number per node, keyed by its path, and answers exactly what `locateIn` would.
 */
import { isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml'
import type { Loc } from '../diag/index.js'
import type { Path } from './schema/index.js'

/** Map children are keyed `k<key>`, sequence items `n<index>`, so `"0"` and `0` stay distinct. */
const SEP = '\u0001'
const NONE = -1

export interface PositionIndex {
  /** Position of `path`, or of the deepest parent that exists (as `locateIn` without atKey). */
  locate(path: Path): Loc
}

function rangeStart(n: unknown): number {
  const r = (n as Node | null | undefined)?.range
  return r === undefined || r === null ? NONE : r[0]
}

export function indexPositions(doc: Document, lines: LineCounter, file: string): PositionIndex {
  // Path key → start offset of the value (or of its key when the value has none).
  const starts = new Map<string, number>()
  const walk = (node: unknown, prefix: string): void => {
    if (isMap(node)) {
      for (const item of node.items) {
        if (!isPair(item) || !isScalar(item.key)) continue
        const key = `${prefix}${SEP}k${String(item.key.value)}`
        // The first of duplicate keys wins, as in locateIn (duplicates are errors anyway).
        if (starts.has(key)) continue
        const v = rangeStart(item.value)
        starts.set(key, v !== NONE ? v : rangeStart(item.key))
        walk(item.value, key)
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const key = `${prefix}${SEP}n${i}`
        starts.set(key, rangeStart(item))
        walk(item, key)
      })
    }
  }
  walk(doc.contents, '')
  const root = rangeStart(doc.contents)
  return {
    locate(path: Path): Loc {
      let best = root === NONE ? 0 : root
      let prefix = ''
      for (const seg of path) {
        // A number finds a sequence item, or a map key written as that number.
        let key = typeof seg === 'number' ? `${prefix}${SEP}n${seg}` : undefined
        let start = key !== undefined ? starts.get(key) : undefined
        if (start === undefined) {
          key = `${prefix}${SEP}k${String(seg)}`
          start = starts.get(key)
        }
        if (start === undefined || key === undefined) break
        if (start !== NONE) best = start
        prefix = key
      }
      const pos = lines.linePos(best)
      return { file, line: pos.line, col: pos.col }
    },
  }
}
