/**
 * A file's documents as validation reads them: the data, where a diagnostic's field is, and the
 * compact position index a resource keeps. The fast path (fast-yaml.ts) reads most config files;
 * a file it does not take is parsed by the `yaml` package, which also reports its syntax errors.
 * A file the fast path read is parsed by the `yaml` package only when something asks where a
 * field deeper than the index is (a diagnostic): that parse, of the whole file as the full path
 * would have parsed it, answers, so a diagnostic names the same file, line and column either way.
 */
import type { Diagnostic, Loc } from '../diag/index.js'
import { linesOf, parseFast, type FastDoc } from './fast-yaml.js'
import { parseYaml, type SourceFile, type YamlDoc } from './load.js'
import { locateIn, type LinePositions } from './locate.js'
import { indexFromStarts, indexPositions, type PositionIndex } from './positions.js'
import type { Path } from './schema/index.js'

/** One document of a file, however it was parsed. */
export interface ParsedDoc {
  readonly file: SourceFile
  /** 0-based index of the document in its file. */
  readonly index: number
  /** The document as data (what the `yaml` package's `toJS` gives). */
  readonly value: unknown
  /** Position of `path` for a diagnostic: the value's, or the key's when `atKey` (as locateIn). */
  locate(path: Path, atKey?: boolean): Loc
  /** The compact index a resource keeps (see positions.ts). */
  positions(): PositionIndex
}

/** The documents of `file`; YAML errors and warnings go to `diags`. */
export function parseDocuments(file: SourceFile, diags: Diagnostic[]): ParsedDoc[] {
  const fast = parseFast(file.text)
  if (fast === undefined) return parseYaml(file, diags).map(fromYaml)
  const lines = linesOf(file.text)
  const full = fullParse(file)
  return fast.map((d) => fromFast(file, d, lines, full))
}

function fromYaml(p: YamlDoc): ParsedDoc {
  const file = p.file.display
  return {
    file: p.file,
    index: p.index,
    value: p.doc.toJS({ maxAliasCount: 100 }),
    locate: (path, atKey = false) => locateIn(p.doc, p.lines, file, path, atKey),
    // Not the Document: a resource outlives it (the parse cache keeps resources across reloads).
    positions: () => indexPositions({ doc: p.doc, lines: p.lines, file, text: p.file.text }),
  }
}

/**
 * The `yaml` package's parse of the whole file, made on first use and held weakly (see
 * positions.ts for why not strongly): the fast path took the file, so it has no syntax errors.
 */
function fullParse(file: SourceFile): () => readonly YamlDoc[] {
  let held: WeakRef<YamlDoc[]> | undefined
  return () => {
    let docs = held?.deref()
    if (docs === undefined) {
      docs = parseYaml(file, [])
      held = new WeakRef(docs)
    }
    return docs
  }
}

function fromFast(
  source: SourceFile,
  d: FastDoc,
  lines: LinePositions,
  full: () => readonly YamlDoc[],
): ParsedDoc {
  const file = source.display
  // Only these are captured by what a resource keeps, not the document's data.
  const { index, starts, root } = d
  const locate = (path: Path, atKey = false): Loc => {
    const p = full()[index]
    if (p === undefined) throw new Error(`${file}: document ${index} is missing on a full parse`)
    return locateIn(p.doc, p.lines, file, path, atKey)
  }
  return {
    file: source,
    index,
    value: d.value,
    locate,
    positions: () => indexFromStarts({ starts, root, lines, file, deep: (path) => locate(path) }),
  }
}
