/**
 * Istio's path normalization (meshConfig.pathNormalization), as Envoy's connection manager applies
 * it to the path of every request before anything reads it: routing, matching, rate-limit keys and
 * the request sent upstream all see one path (hardening.md §3).
 *
 * - `BASE` (Istio's DEFAULT, Envoy `normalize_path`): RFC 3986 dot-segment removal, `\` → `/`,
 *   one decoding pass over escapes of unreserved characters only (`%2D %2E %30-39 %41-5A %5F
 *   %61-7A %7E`); other escapes are kept exactly as sent (`%2F`, `%25`: no double decoding), the
 *   few raw characters a URL must not carry unescaped (`"<>^\`{|}`) are escaped, `%00` is refused.
 * - `MERGE_SLASHES`: BASE, then runs of `/` merged into one.
 * - `DECODE_AND_MERGE_SLASHES`: `%2F %2f %5C %5c` decoded first, then MERGE_SLASHES.
 * - `NONE`: the path goes through as sent.
 *
 * In every mode a `%00` escape and a segment starting with `..;` or `.;` are refused: servlet
 * containers strip `;` parameters before resolving dot segments, so `/public/..;/admin` is
 * `/admin` to them. Only the path is touched; the query is passed on byte for byte.
 *
 * On the hot path: a path that is already normal costs one scan and returns the very string it
 * was given (no allocation); only paths that change are rebuilt.
 */

export type PathNormalization = 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES'

/** Why a path cannot be normalized; the request is answered 400. */
export interface PathRejection {
  readonly reason: 'nul_escape' | 'dot_semicolon_segment' | 'invalid_character'
}

export const PATH_REJECTED = Object.freeze({
  /** `%00`: no backend can be trusted to read it the same way. */
  nulEscape: Object.freeze({ reason: 'nul_escape' }),
  /** A segment starting with `..;` or `.;`, a dot segment to servlet containers. */
  dotSemicolonSegment: Object.freeze({ reason: 'dot_semicolon_segment' }),
  /** A raw byte no request target may carry (control, space, `#`, non-ASCII). */
  invalidCharacter: Object.freeze({ reason: 'invalid_character' }),
}) satisfies Record<string, PathRejection>

const SLASH = 0x2f
const BACKSLASH = 0x5c
const DOT = 0x2e
const PERCENT = 0x25
const SEMICOLON = 0x3b
const HASH = 0x23
/** Marks the end of the path in the scans below (never a real character code). */
const END = -1

/** Characters the single decoding pass turns back into themselves (RFC 3986 unreserved). */
const UNRESERVED = new Uint8Array(256)
/** Raw characters Envoy (after Chromium) escapes in a path rather than pass on. */
const MUST_ESCAPE = new Uint8Array(128)
for (let c = 0x30; c <= 0x39; c++) UNRESERVED[c] = 1
for (let c = 0x41; c <= 0x5a; c++) UNRESERVED[c] = 1
for (let c = 0x61; c <= 0x7a; c++) UNRESERVED[c] = 1
for (const ch of '-._~') UNRESERVED[ch.charCodeAt(0)] = 1
for (const ch of '"<>^`{|}') MUST_ESCAPE[ch.charCodeAt(0)] = 1

const HEX = '0123456789ABCDEF'

/**
 * Normalizes the path of an origin-form request target (`/path?query`) in `mode`. Returns `target`
 * itself when nothing changes, the rewritten target, or why it must be refused.
 */
export function normalizePath(target: string, mode: PathNormalization): string | PathRejection {
  let end = target.indexOf('?')
  if (end < 0) end = target.length
  const problem = firstProblem(target, end, mode)
  if (problem < 0) return target
  if (mode === 'NONE') return problem === REFUSED ? refusalIn(target, end) : target
  const path = rebuild(target.slice(0, end), mode)
  if (typeof path !== 'string' || end === target.length) return path
  return path + target.slice(end)
}

/** firstProblem found something `NONE` refuses too (it never rewrites). */
const REFUSED = 1
/** firstProblem found something the normalizing modes rewrite. */
const REWRITE = 0

/**
 * One pass over the path: -1 when the path is already normal in `mode`, REFUSED when it holds
 * something refused in every mode, REWRITE when normalization would change it.
 */
function firstProblem(s: string, end: number, mode: PathNormalization): number {
  const normalizing = mode !== 'NONE'
  const merging = mode === 'MERGE_SLASHES' || mode === 'DECODE_AND_MERGE_SLASHES'
  const decodingSlashes = mode === 'DECODE_AND_MERGE_SLASHES'
  if (normalizing && (end === 0 || s.charCodeAt(0) !== SLASH)) return REWRITE
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i)
    if (c === PERCENT) {
      const v = escapedValue(s, i, end)
      if (v < 0) continue
      if (v === 0) return REFUSED
      if (normalizing && (UNRESERVED[v] === 1 || (decodingSlashes && isSlash(v)))) return REWRITE
      i += 2
    } else if (c <= 0x20 || c >= 0x7f || c === HASH) {
      return REFUSED
    } else if (c === SLASH) {
      const next = at(s, i + 1, end)
      if (merging && next === SLASH) return REWRITE
      if (next !== DOT) continue
      // `/.`: a dot segment (rewritten), `/.;` or `/..;` (refused), or a name (`/.well-known`).
      const after = at(s, i + 2, end)
      if (after === SEMICOLON) return REFUSED
      if (normalizing && isSegmentEnd(after)) return REWRITE
      if (after !== DOT) continue
      const third = at(s, i + 3, end)
      if (third === SEMICOLON) return REFUSED
      if (normalizing && isSegmentEnd(third)) return REWRITE
    } else if (normalizing && (c === BACKSLASH || MUST_ESCAPE[c] === 1)) {
      return REWRITE
    }
  }
  return -1
}

/** NONE rewrites nothing; it only has to say why it refuses. */
function refusalIn(s: string, end: number): string | PathRejection {
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i)
    if (c === PERCENT && escapedValue(s, i, end) === 0) return PATH_REJECTED.nulEscape
    if (c <= 0x20 || c >= 0x7f || c === HASH) return PATH_REJECTED.invalidCharacter
  }
  return PATH_REJECTED.dotSemicolonSegment
}

/** The slow path, for a path that changes: the three steps in Envoy's order. */
function rebuild(path: string, mode: PathNormalization): string | PathRejection {
  const decoded = mode === 'DECODE_AND_MERGE_SLASHES' ? decodeSlashes(path) : path
  const canonical = canonicalize(decoded)
  if (typeof canonical !== 'string') return canonical
  const merged = mode === 'BASE' ? canonical : mergeSlashes(canonical)
  return hasDotSemicolonSegment(merged) ? PATH_REJECTED.dotSemicolonSegment : merged
}

/** `%2F %2f %5C %5c` → `/` and `\`, in one pass (what they decode to is not decoded again). */
function decodeSlashes(path: string): string {
  let out = ''
  let from = 0
  for (let i = path.indexOf('%'); i >= 0; i = path.indexOf('%', i + 1)) {
    const v = escapedValue(path, i, path.length)
    if (v !== SLASH && v !== BACKSLASH) continue
    out += path.slice(from, i) + String.fromCharCode(v)
    from = i + 3
    i += 2
  }
  return from === 0 ? path : out + path.slice(from)
}

/**
 * RFC 3986 §5.2.4 dot-segment removal with Envoy's (Chromium's) reading of a path: `\` is a
 * slash, `%2e` is a dot, unreserved escapes are decoded once, other valid escapes are kept as
 * sent, an invalid `%` is kept, and a `%` that decoding would turn into a new valid escape
 * (`%%30%30` → `%00`) is itself escaped, so the result reads the same when normalized again.
 */
function canonicalize(path: string): string | PathRejection {
  const end = path.length
  // The output always starts with a slash; a `..` never climbs above it.
  let out = '/'
  let i = end > 0 && isUrlSlash(path.charCodeAt(0)) ? 1 : 0
  /** Where in `out` an invalid `%` was copied (-10: none close enough to matter). */
  let invalidPercent = -10
  for (; i < end; i++) {
    const c = path.charCodeAt(i)
    const dot = dotLength(path, i, end)
    if (dot > 0) {
      if (out.charCodeAt(out.length - 1) !== SLASH) {
        out += '.'
        i += dot - 1
        continue
      }
      const afterDot = i + dot
      const next = at(path, afterDot, end)
      if (next === END || isUrlSlash(next)) {
        // `.`: the current segment; skip it and its slash.
        i = afterDot + (next === END ? 0 : 1) - 1
        continue
      }
      const second = dotLength(path, afterDot, end)
      const afterSecond = afterDot + second
      const following = second > 0 ? at(path, afterSecond, end) : 0
      if (second > 0 && (following === END || isUrlSlash(following))) {
        // `..`: drop the last segment of the output (never the leading slash).
        out = out.slice(0, out.lastIndexOf('/', out.length - 2) + 1)
        i = afterSecond + (following === END ? 0 : 1) - 1
        continue
      }
      out += '.'
      i += dot - 1
      continue
    }
    if (c === BACKSLASH) {
      out += '/'
    } else if (c === PERCENT) {
      const v = escapedValue(path, i, end)
      if (v < 0) {
        invalidPercent = out.length
        out += '%'
      } else if (v === 0) {
        return PATH_REJECTED.nulEscape
      } else if (UNRESERVED[v] === 1) {
        out += String.fromCharCode(v)
        i += 2
        if (invalidPercent >= out.length - 3) {
          out = escapeNestedPercent(out, invalidPercent, at(path, i + 1, end))
        }
      } else {
        out += path.slice(i, i + 3)
        i += 2
      }
    } else if (c <= 0x20 || c >= 0x7f || c === HASH) {
      return PATH_REJECTED.invalidCharacter
    } else if (MUST_ESCAPE[c] === 1) {
      out += `%${HEX[c >> 4]!}${HEX[c & 15]!}`
    } else {
      out += path[i]!
    }
  }
  return out
}

/**
 * `out` ends in an invalid `%` followed by one or two characters, the last just decoded. If the
 * `%` now starts a valid escape (with `nextChar`, the next input, when only one follows it), it is
 * written as `%25` so that no later decoding pass can read an escape that was never sent.
 */
function escapeNestedPercent(out: string, percent: number, nextChar: number): string {
  const oneFollows = percent === out.length - 2
  if (oneFollows && (nextChar === END || nextChar >= 0x80)) return out
  const candidate = oneFollows ? out + String.fromCharCode(nextChar) : out
  if (escapedValue(candidate, percent, candidate.length) < 0) return out
  return `${out.slice(0, percent)}%25${out.slice(percent + 1)}`
}

function mergeSlashes(path: string): string {
  if (!path.includes('//')) return path
  let out = ''
  let previous = 0
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i)
    if (c === SLASH && previous === SLASH) continue
    out += path[i]!
    previous = c
  }
  return out
}

function hasDotSemicolonSegment(path: string): boolean {
  for (let i = path.indexOf('/.'); i >= 0; i = path.indexOf('/.', i + 1)) {
    const after = path.charCodeAt(i + 2)
    if (after === SEMICOLON || (after === DOT && path.charCodeAt(i + 3) === SEMICOLON)) return true
  }
  return false
}

/** The byte a valid `%XX` at `i` stands for, or -1 when `%` does not start a valid escape. */
function escapedValue(s: string, i: number, end: number): number {
  if (i + 2 >= end) return -1
  const hi = hexValue(s.charCodeAt(i + 1))
  const lo = hexValue(s.charCodeAt(i + 2))
  return hi < 0 || lo < 0 ? -1 : (hi << 4) | lo
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  const lower = c | 0x20
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10
  return -1
}

/** Length of a dot at `i`: 1 for `.`, 3 for `%2e`/`%2E`, 0 for anything else. */
function dotLength(s: string, i: number, end: number): number {
  const c = s.charCodeAt(i)
  if (c === DOT) return 1
  if (
    c === PERCENT &&
    i + 2 < end &&
    s.charCodeAt(i + 1) === 0x32 &&
    (s.charCodeAt(i + 2) | 0x20) === 0x65
  )
    return 3
  return 0
}

function at(s: string, i: number, end: number): number {
  return i < end ? s.charCodeAt(i) : END
}

function isSlash(v: number): boolean {
  return v === SLASH || v === BACKSLASH
}

/** Chromium counts `\` as a slash when it classifies dot segments. */
function isUrlSlash(c: number): boolean {
  return c === SLASH || c === BACKSLASH
}

function isSegmentEnd(c: number): boolean {
  return c === END || c === SLASH || c === BACKSLASH
}
