/**
 * A fast path for the plain YAML configs are written in: block maps and sequences, one-line
 * scalars (plain, or quoted without escapes), one-line flow collections (`[a, b]`, `{k: v}`),
 * comments and `---` separators. The `yaml` package builds a token stream, a syntax tree with source ranges and
 * a document model for every file before `toJS` gives the data; at 100 000 tenant files that was
 * half of `portcullis validate`. This reads the same text straight into the data and the start
 * offsets a position index keeps (position-keys.ts), in one pass over the lines.
 *
 * It answers only for text whose meaning it is sure of, and gives up (undefined) on anything else:
 * tabs, CR, anchors, aliases, tags, block scalars, multi-line scalars or flow collections,
 * escapes, complex or duplicate keys, empty values, directives, `...`, a text with no
 * content, and whatever would be a YAML error or warning. The caller then parses the file with the `yaml` package as before, so
 * what this accepts must mean exactly what that parse means: the same documents, values (YAML 1.2
 * core schema, resolved by the `yaml` package's own tags) and positions, with no error or
 * warning. fast-yaml.test.ts holds it to that on the config corpus and on generated text.
 */
import { isScalar, LineCounter, Schema, type ScalarTag } from 'yaml'
import { INDEXED_DEPTH, mapChildKey, seqItemKey } from './position-keys.js'

export interface FastDoc {
  /** 0-based index of the document in its file, as `parseAllDocuments` numbers them. */
  readonly index: number
  /** What `toJS` gives for the document. */
  readonly value: unknown
  /** Start offset of the document's contents. */
  readonly root: number
  /** Start offsets of the fields up to INDEXED_DEPTH (value, as positions.ts indexes them). */
  readonly starts: Map<string, number>
}

/** The line starts of `text`, as the `yaml` package's parser records them. */
export function linesOf(text: string): LineCounter {
  const lines = new LineCounter()
  lines.addNewLine(0)
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines.addNewLine(i + 1)
  return lines
}

/**
 * Thrown inside the parser when the text is outside what it is sure of: one instance, made once,
 * so giving up costs no stack trace.
 */
class OutsideFastPath extends Error {}
const GIVE_UP = new OutsideFastPath('outside the fast YAML path')

// The tags the `yaml` package resolves plain scalars with for YAML 1.2 (core schema), in its
// order: the first whose test matches wins, as in its composeScalar.
const PLAIN_TAGS = (new Schema({ schema: 'core' }).tags as ScalarTag[]).filter(
  (t) => t.default === true && t.test !== undefined,
)
const RESOLVE_OPTIONS = { intAsBigInt: false }
// A plain scalar not starting with one of these is a string whatever follows (none of the core
// schema's tests can match it): the common case skips the regexes.
const MAYBE_TYPED = /^[-+.~0-9nNtTfF]/

/** What a core-schema plain scalar resolves to. */
type Plain = string | number | boolean | null

function resolvePlain(text: string): Plain {
  if (!MAYBE_TYPED.test(text)) return text
  for (const tag of PLAIN_TAGS) {
    if (tag.test!.test(text)) {
      const v: unknown = tag.resolve(
        text,
        () => {
          throw GIVE_UP
        },
        RESOLVE_OPTIONS,
      )
      return (isScalar(v) ? v.value : v) as Plain
    }
  }
  return text
}

// Keys written plainly that the fast path takes: letters, digits and `_./-`, not starting with
// an indicator. Anything else (spaces, `<<`, `?`, quotes inside) goes to the full parser.
const PLAIN_KEY = /^[A-Za-z0-9_][A-Za-z0-9_./-]*$/
// Characters the fast path does not take anywhere: tabs, CR, other control characters, BOM,
// surrogates (the `yaml` package's rules for those are more than this needs to repeat).
const UNSUPPORTED_CHARS = /[^\n\x20-\x7e\u00a0-\u2027\u202a-\ud7ff\ue000-\ufffd]|\ufeff/
// A plain scalar starting with one of these is an indicator (or would be in some context).
const INDICATOR_START = /^[?:,[\]{}#&*!|>'"%@`]|^-(?: |$)/

/** A one-line plain scalar in block context that means its text (before resolving its type). */
function isPlainInBlock(raw: string): boolean {
  return !(
    INDICATOR_START.test(raw) ||
    raw.includes(': ') ||
    raw.endsWith(':') ||
    /[[\]{}]/.test(raw) ||
    raw.startsWith('---') ||
    raw.startsWith('...')
  )
}

/** The file's documents, or undefined when the text is outside the fast path. */
export function parseFast(text: string): FastDoc[] | undefined {
  if (UNSUPPORTED_CHARS.test(text)) return undefined
  try {
    return new FastParser(text).documents()
  } catch (e) {
    if (e === GIVE_UP) return undefined
    throw e
  }
}

class FastParser {
  readonly #text: string
  /** Per content line (not blank, not only a comment, not a separator): start offset. */
  readonly #start: number[] = []
  /** Per content line: offset of its end (the newline, or the end of the text). */
  readonly #end: number[] = []
  /** Per content line: column of its first non-space character. */
  readonly #indent: number[] = []
  /** Content line index at which each document starts, then the total. */
  readonly #docFirst: number[] = []
  #line = 0
  #last = 0
  #starts = new Map<string, number>()

  constructor(text: string) {
    this.#text = text
    this.#scanLines()
  }

  #scanLines(): void {
    const text = this.#text
    // Content line index at which each document starts; the end is pushed last.
    const firsts = [0]
    let separators = 0
    let from = 0
    while (from < text.length) {
      let to = text.indexOf('\n', from)
      if (to === -1) to = text.length
      let i = from
      while (i < to && text.charCodeAt(i) === 0x20) i++
      if (i < to && text[i] !== '#') {
        if (i === from && (text.startsWith('---', i) || text.startsWith('...', i))) {
          // A separator on its own line; anything after it on the line, or `...`, is not taken.
          if (text.slice(i, to).trimEnd() !== '---') throw GIVE_UP
          // Comments and blank lines before the first separator belong to its document.
          if (separators > 0 || this.#start.length > 0) firsts.push(this.#start.length)
          separators++
        } else {
          if (i === from && text[i] === '%') throw GIVE_UP // a directive
          this.#start.push(from)
          this.#end.push(to)
          this.#indent.push(i - from)
        }
      }
      from = to + 1
    }
    // A text of only comments and blank lines is left to the full parser.
    if (this.#start.length === 0) throw GIVE_UP
    firsts.push(this.#start.length)
    this.#docFirst.push(...firsts)
  }

  documents(): FastDoc[] {
    const out: FastDoc[] = []
    const bounds = this.#docFirst
    for (let d = 0; d + 1 < bounds.length; d++) {
      const first = bounds[d]!
      const last = bounds[d + 1]!
      // `---` with nothing after it: a document of null, as the `yaml` package has it (no
      // positions: validation skips an empty document before it could locate anything in it).
      if (first === last) {
        out.push({ index: d, value: null, root: 0, starts: new Map() })
        continue
      }
      this.#line = first
      this.#last = last
      this.#starts = new Map()
      const col = this.#indent[first]!
      const root = this.#start[first]! + col
      const value = this.#node(first, col, '', 0)
      if (this.#line !== last) throw GIVE_UP
      out.push({ index: d, value, root, starts: this.#starts })
    }
    return out
  }

  /** Records where a field starts, for the paths the position index answers. */
  #record(key: string, depth: number, offset: number): void {
    if (depth <= INDEXED_DEPTH) this.#starts.set(key, offset)
  }

  /** The node starting at column `col` of content line `line` (`col` may be past its indent). */
  #node(line: number, col: number, prefix: string, depth: number): unknown {
    const text = this.#text
    const at = this.#start[line]! + col
    if (text[at] === '-' && (at + 1 === this.#end[line] || text[at + 1] === ' ')) {
      return this.#seq(line, col, prefix, depth)
    }
    if (this.#entryKey(line, col) !== undefined) return this.#map(line, col, prefix, depth)
    const value = this.#inline(line, at, prefix, depth)
    this.#line = line + 1
    return value
  }

  /**
   * The key of the map entry at `col` of `line` and the offset after its `:`, or undefined when
   * the line is not an entry. Gives up on keys the fast path does not take.
   */
  #entryKey(line: number, col: number): { key: string; after: number } | undefined {
    const text = this.#text
    const at = this.#start[line]! + col
    const end = this.#end[line]!
    const q = text[at]
    if (q === '[' || q === '{') return undefined // a flow collection (as a key: not taken later)
    if (q === '"' || q === "'") {
      const close = text.indexOf(q, at + 1)
      if (close === -1 || close >= end) throw GIVE_UP
      if (text[close + 1] !== ':') return undefined // a quoted scalar, not a key
      if (close + 2 < end && text[close + 2] !== ' ') throw GIVE_UP
      const key = text.slice(at + 1, close)
      if (key.includes('\\') || key.includes("'")) throw GIVE_UP
      return { key, after: close + 2 }
    }
    let i = at
    while (i < end) {
      const c = text.charCodeAt(i)
      if (c === 0x3a /* : */ && (i + 1 === end || text.charCodeAt(i + 1) === 0x20)) break
      if (c === 0x20 && text.charCodeAt(i + 1) === 0x23 /* # */) return undefined
      i++
    }
    if (i >= end) return undefined
    const raw = text.slice(at, i)
    if (!PLAIN_KEY.test(raw)) throw GIVE_UP
    const resolved = resolvePlain(raw)
    // toJS names a null key '' where the position index names it 'null': not taken.
    if (resolved === null) throw GIVE_UP
    // As the `yaml` package's toJS names a key: its String().
    return { key: String(resolved), after: i + 1 }
  }

  /**
   * Whether content line `l` goes on with the collection at column `col` that began on line
   * `first` (whose first entry may start past the line's indent: `- key: v`); false when it is
   * less indented (the collection ended). More indented is a continuation the fast path does not
   * take (a multi-line scalar, or an error).
   */
  #continues(l: number, first: number, col: number): boolean {
    if (l === first) return true
    const indent = this.#indent[l]!
    if (indent > col) throw GIVE_UP
    return indent === col
  }

  #map(line: number, col: number, prefix: string, depth: number): Record<string, unknown> {
    const text = this.#text
    const out: Record<string, unknown> = {}
    this.#line = line
    while (this.#line < this.#last) {
      const l = this.#line
      if (!this.#continues(l, line, col)) break
      const entry = this.#entryKey(l, col)
      // Not an entry (a sequence item at a map's column is a YAML error too).
      if (entry === undefined) throw GIVE_UP
      const { key, after } = entry
      if (key === '__proto__' || Object.prototype.hasOwnProperty.call(out, key)) throw GIVE_UP
      const childKey = depth < INDEXED_DEPTH ? mapChildKey(prefix, key) : ''
      const valueAt = this.#skipSpaces(after, this.#end[l]!)
      if (valueAt < this.#end[l]! && text[valueAt] !== '#') {
        this.#record(childKey, depth + 1, valueAt)
        out[key] = this.#inline(l, valueAt, childKey, depth + 1)
        this.#line = l + 1
        continue
      }
      // The value is on the next lines: more indented, or a sequence at the key's column.
      const next = l + 1
      if (next >= this.#last) throw GIVE_UP
      const nextIndent = this.#indent[next]!
      if (nextIndent > col) {
        this.#record(childKey, depth + 1, this.#start[next]! + nextIndent)
        out[key] = this.#node(next, nextIndent, childKey, depth + 1)
      } else if (nextIndent === col && this.#isSeqItem(next, col)) {
        this.#record(childKey, depth + 1, this.#start[next]! + col)
        out[key] = this.#seq(next, col, childKey, depth + 1)
      } else {
        throw GIVE_UP // an empty value
      }
    }
    return out
  }

  #isSeqItem(line: number, col: number): boolean {
    const at = this.#start[line]! + col
    return this.#text[at] === '-' && (at + 1 === this.#end[line] || this.#text[at + 1] === ' ')
  }

  #seq(line: number, col: number, prefix: string, depth: number): unknown[] {
    const out: unknown[] = []
    this.#line = line
    while (this.#line < this.#last) {
      const l = this.#line
      if (!this.#continues(l, line, col)) break
      if (!this.#isSeqItem(l, col)) {
        // A map entry at this column: the map this sequence is the value of goes on.
        if (l !== line) break
        throw GIVE_UP
      }
      const itemKey = depth < INDEXED_DEPTH ? seqItemKey(prefix, out.length) : ''
      const end = this.#end[l]!
      const valueAt = this.#skipSpaces(this.#start[l]! + col + 1, end)
      if (valueAt < end && this.#text[valueAt] !== '#') {
        const itemCol = valueAt - this.#start[l]!
        this.#record(itemKey, depth + 1, valueAt)
        out.push(this.#node(l, itemCol, itemKey, depth + 1))
        continue
      }
      const next = l + 1
      if (next >= this.#last || this.#indent[next]! <= col) throw GIVE_UP // an empty item
      const nextIndent = this.#indent[next]!
      this.#record(itemKey, depth + 1, this.#start[next]! + nextIndent)
      out.push(this.#node(next, nextIndent, itemKey, depth + 1))
    }
    return out
  }

  #skipSpaces(i: number, end: number): number {
    while (i < end && this.#text.charCodeAt(i) === 0x20) i++
    return i
  }

  /** What is left of the line after a value: nothing, or a comment after a space. */
  #endOfLine(i: number, end: number): void {
    const j = this.#skipSpaces(i, end)
    if (j === end) return
    if (this.#text[j] === '#' && j > i) return
    throw GIVE_UP
  }

  /** A value that ends its line: a scalar or a flow sequence starting at offset `at`. */
  #inline(line: number, at: number, prefix: string, depth: number): unknown {
    const text = this.#text
    const end = this.#end[line]!
    const c = text[at]
    if (c === '[' || c === '{') {
      const { value, after } = this.#flow(at, end, prefix, depth)
      this.#endOfLine(after, end)
      return value
    }
    if (c === '"' || c === "'") {
      const { value, after } = this.#quoted(at, end)
      this.#endOfLine(after, end)
      return value
    }
    // Plain: up to a comment (` #`), trailing spaces dropped.
    let stop = at
    while (stop < end && !(text.charCodeAt(stop) === 0x23 && text.charCodeAt(stop - 1) === 0x20))
      stop++
    const raw = text.slice(at, stop).trimEnd()
    if (!isPlainInBlock(raw)) throw GIVE_UP
    return resolvePlain(raw)
  }

  /** A quoted scalar on one line, without escapes. */
  #quoted(at: number, end: number): { value: string; after: number } {
    const text = this.#text
    const q = text[at]!
    if (q === '"') {
      const close = text.indexOf('"', at + 1)
      if (close === -1 || close >= end) throw GIVE_UP
      const value = text.slice(at + 1, close)
      if (value.includes('\\')) throw GIVE_UP
      return { value, after: close + 1 }
    }
    let value = ''
    let i = at + 1
    for (;;) {
      const close = text.indexOf("'", i)
      if (close === -1 || close >= end) throw GIVE_UP
      value += text.slice(i, close)
      if (text[close + 1] !== "'") return { value, after: close + 1 }
      value += "'"
      i = close + 2
    }
  }

  /** A flow collection on one line (`[a, "b"]`, `{k: v}`, nested): its value and where it ends. */
  #flow(at: number, end: number, prefix: string, depth: number): { value: unknown; after: number } {
    const text = this.#text
    const isMap = text[at] === '{'
    const close = isMap ? '}' : ']'
    const seq: unknown[] = []
    const map: Record<string, unknown> = {}
    let i = this.#skipSpaces(at + 1, end)
    if (text[i] === close) return { value: isMap ? map : seq, after: i + 1 }
    for (;;) {
      if (i >= end) throw GIVE_UP
      let childKey = ''
      if (isMap) {
        const { key, after } = this.#flowKey(i, end)
        if (key === '__proto__' || Object.prototype.hasOwnProperty.call(map, key)) throw GIVE_UP
        if (depth < INDEXED_DEPTH) childKey = mapChildKey(prefix, key)
        i = this.#skipSpaces(after, end)
        this.#record(childKey, depth + 1, i)
        const v = this.#flowItem(i, end, childKey, depth + 1)
        map[key] = v.value
        i = v.after
      } else {
        if (depth < INDEXED_DEPTH) childKey = seqItemKey(prefix, seq.length)
        this.#record(childKey, depth + 1, i)
        const v = this.#flowItem(i, end, childKey, depth + 1)
        seq.push(v.value)
        i = v.after
      }
      i = this.#skipSpaces(i, end)
      if (text[i] === close) return { value: isMap ? map : seq, after: i + 1 }
      if (text[i] !== ',') throw GIVE_UP
      i = this.#skipSpaces(i + 1, end)
      if (text[i] === close || text[i] === ',') throw GIVE_UP // a trailing or empty entry
    }
  }

  /** A flow map's key and the offset after its `: ` (a key with no value is not taken). */
  #flowKey(at: number, end: number): { key: string; after: number } {
    const text = this.#text
    let key: string
    let i: number
    if (text[at] === '"' || text[at] === "'") {
      const q = this.#quoted(at, end)
      if (q.value.includes("'")) throw GIVE_UP
      key = q.value
      i = q.after
    } else {
      i = at
      while (i < end && text[i] !== ':' && text[i] !== ',' && text[i] !== '}') i++
      const raw = text.slice(at, i)
      if (!PLAIN_KEY.test(raw)) throw GIVE_UP
      const resolved = resolvePlain(raw)
      if (resolved === null) throw GIVE_UP // see #entryKey
      key = String(resolved)
    }
    if (text[i] !== ':' || text[i + 1] !== ' ') throw GIVE_UP
    return { key, after: i + 2 }
  }

  /** An item of a flow collection: a scalar, or a flow collection. */
  #flowItem(
    at: number,
    end: number,
    prefix: string,
    depth: number,
  ): { value: unknown; after: number } {
    const text = this.#text
    const c = text[at]
    if (c === '[' || c === '{') return this.#flow(at, end, prefix, depth)
    if (c === '"' || c === "'") return this.#quoted(at, end)
    let j = at
    while (j < end) {
      const ch = text[j]
      if (ch === ',' || ch === ']' || ch === '}') break
      j++
    }
    const raw = text.slice(at, j).trimEnd()
    // Colons (`2001:db8::`), comments, collections and quotes inside: the full parser.
    if (raw === '' || INDICATOR_START.test(raw) || /[:#{}[\]'"]/.test(raw)) throw GIVE_UP
    return { value: resolvePlain(raw), after: j }
  }
}
