/**
 * A compact stand-in for a parsed YAML document, kept by a resource's Origin so it can point at
 * its fields after the document is gone. Holding the `yaml` Document (every node with its source
 * tokens) cost about 19 KB per VirtualService for as long as the resource lived, and the parse
 * cache keeps resources across reloads. The index keeps the start offsets of the shallow fields
 * (what compile's source references ask for: `spec.http[2]`, `spec.hosts[0]`), and for a deeper
 * path (a diagnostic) parses the document's text again, once, held weakly. Either way it answers
 * exactly what `locateIn` answers on the original document.
 *
 * The original document is not held at all, not even weakly: a WeakRef keeps its target until
 * the synchronous job that made it ends, and a load parses every file in one job, so weak
 * references to 100 000 documents kept all of them until the load returned (the start-up peak,
 * which idle RSS then stays near).
 */
import { isMap, isPair, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml'
import type { Loc } from '../diag/index.js'
import { keepColonScalarsInFlowLists } from './load.js'
import { locateIn, type LinePositions } from './locate.js'
import { INDEXED_DEPTH, lookupKey, mapChildKey, seqItemKey } from './position-keys.js'
import type { Path } from './schema/index.js'

/** A start offset the index knows the path of, but not a position for (no value, no key). */
export const NONE = -1

export interface PositionIndex {
  /** Position of `path`, or of the deepest parent that exists (as `locateIn` without atKey). */
  locate(path: Path): Loc
}

export interface DocumentSource {
  readonly doc: Document.Parsed
  readonly lines: LinePositions
  /** The file's display name and its whole text (shared by all its documents). */
  readonly file: string
  readonly text: string
}

function rangeStart(n: unknown): number {
  const r = (n as Node | null | undefined)?.range
  return r === undefined || r === null ? NONE : r[0]
}

export function indexPositions(src: DocumentSource): PositionIndex {
  const { doc, lines, file, text } = src
  const starts = new Map<string, number>()
  const walk = (node: unknown, prefix: string, depth: number): void => {
    if (depth >= INDEXED_DEPTH) return
    if (isMap(node)) {
      for (const item of node.items) {
        if (!isPair(item) || !isScalar(item.key)) continue
        const key = mapChildKey(prefix, String(item.key.value))
        // The first of duplicate keys wins, as in locateIn (duplicates are errors anyway).
        if (starts.has(key)) continue
        const v = rangeStart(item.value)
        starts.set(key, v !== NONE ? v : rangeStart(item.key))
        walk(item.value, key, depth + 1)
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const key = seqItemKey(prefix, i)
        starts.set(key, rangeStart(item))
        walk(item, key, depth + 1)
      })
    }
  }
  walk(doc.contents, '', 0)
  const range = doc.range
  const docStart = range[0]
  const docEnd = range[2]
  // Parsed again from its text on demand (only a diagnostic asks this deep).
  let again: WeakRef<Document> | undefined
  // Offsets in the re-parsed text start at the document's start in the file.
  const shifted: LinePositions = { linePos: (o: number) => lines.linePos(o + docStart) }
  const deep = (path: Path): Loc => {
    let reparsed = again?.deref()
    if (reparsed === undefined) {
      const slice = text.slice(docStart, docEnd)
      reparsed = parseDocument(slice, { version: '1.2', uniqueKeys: true, prettyErrors: false })
      keepColonScalarsInFlowLists(reparsed, slice)
      again = new WeakRef(reparsed)
    }
    return locateIn(reparsed, shifted, file, path)
  }
  return indexFromStarts({ starts, root: rangeStart(doc.contents), lines, file, deep })
}

export interface StartsIndex {
  /** Start offset per path up to INDEXED_DEPTH, keyed by position-keys.ts. */
  readonly starts: ReadonlyMap<string, number>
  /** Start offset of the document's contents. */
  readonly root: number
  readonly lines: LinePositions
  readonly file: string
  /** A path deeper than the index: what `locateIn` answers on the document. */
  readonly deep: (path: Path) => Loc
}

/** The index over `starts`, for paths up to INDEXED_DEPTH; deeper ones go to `deep`. */
export function indexFromStarts(src: StartsIndex): PositionIndex {
  const { starts, lines, file, deep } = src
  const root = src.root
  const at = (offset: number): Loc => {
    const pos = lines.linePos(offset)
    return { file, line: pos.line, col: pos.col }
  }
  return {
    locate(path: Path): Loc {
      if (path.length > INDEXED_DEPTH) return deep(path)
      let best = root === NONE ? 0 : root
      let prefix = ''
      for (const seg of path) {
        // A number finds a sequence item, or a map key written as that number.
        let key = typeof seg === 'number' ? lookupKey(prefix, seg, true) : ''
        let start = key !== '' ? starts.get(key) : undefined
        if (start === undefined) {
          key = lookupKey(prefix, seg, false)
          start = starts.get(key)
        }
        if (start === undefined) break
        if (start !== NONE) best = start
        prefix = key
      }
      return at(best)
    },
  }
}
