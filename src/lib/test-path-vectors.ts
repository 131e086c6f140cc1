/**
 * The path normalization golden table (hardening.md §3.3, from Istio's normalization_test.go and
 * Envoy's path_utility_test.cc, plus the vectors that reached an admin page before the gateway
 * normalized paths), shared by the unit test and the end-to-end run through a real listener.
 * Expected values: the path used for matching and forwarding, or 400.
 */
import type { PathNormalization } from './path-normalize.js'

/** A mode's expected output: the normalized target, or 400. */
export type Expected = string | 400

export interface PathVector {
  readonly input: string
  readonly BASE: Expected
  readonly MERGE_SLASHES: Expected
  readonly DECODE_AND_MERGE_SLASHES: Expected
  readonly NONE: Expected
}

/** One row: MERGE_SLASHES defaults to BASE's output, DECODE_AND_MERGE_SLASHES to MERGE's. */
function row(input: string, base: Expected, merge?: Expected, decode?: Expected): PathVector {
  const m = merge ?? base
  return { input, BASE: base, MERGE_SLASHES: m, DECODE_AND_MERGE_SLASHES: decode ?? m, NONE: input }
}

/** What NONE does differently from passing the input through: it still refuses these. */
function refusedEverywhere(input: string): PathVector {
  return { input, BASE: 400, MERGE_SLASHES: 400, DECODE_AND_MERGE_SLASHES: 400, NONE: 400 }
}

export const PATH_VECTORS: readonly PathVector[] = [
  row('/app/../admin', '/admin'),
  row('/app//../admin', '/app/admin'),
  row('/app/%2E./admin', '/admin'),
  row('/a/b/%2e%2e/c', '/a/c'),
  row('/a/b/%2E%2E/c', '/a/c'),
  row('/a/b/%2E/c', '/a/b/c'),
  row('/a/b/./c', '/a/b/c'),
  row('/a/b/../../../../c', '/c'),
  row('/../a/b', '/a/b'),
  row('/xyz%30..//abc', '/xyz0..//abc', '/xyz0../abc'),
  row('/app\\admin', '/app/admin'),
  row('/app/\\/\\/\\admin', '/app//////admin', '/app/admin'),
  row('/a/..\\c', '/c'),
  row('/app/%2f', '/app/%2f', '/app/%2f', '/app/'),
  row('/app%2f/', '/app%2f/', '/app%2f/', '/app/'),
  row('/a/%2F%2f/c', '/a/%2F%2f/c', '/a/%2F%2f/c', '/a/c'),
  row('/%2Fapp%5cadmin%5Cabc', '/%2Fapp%5cadmin%5Cabc', '/%2Fapp%5cadmin%5Cabc', '/app/admin/abc'),
  row('/%61dmin', '/admin'),
  row('/%c0%af', '/%c0%af'),
  row('/%5c%25', '/%5c%25', '/%5c%25', '/%25'),
  row('/%252e%252e/admin', '/%252e%252e/admin'),
  row('/%c0%ae%c0%ae/admin', '/%c0%ae%c0%ae/admin'),
  row('/0x2e0x2e/admin', '/0x2e0x2e/admin'),
  row('/.../admin', '/.../admin'),
  row('/;/admin', '/;/admin'),
  row('/admin;a=b', '/admin;a=b'),
  row('/Admin', '/Admin'),
  row('/ADMIN', '/ADMIN'),
  row('/A/B/C', '/A/B/C'),
  row('/a/b?x=..//', '/a/b?x=..//'),
  row('/a/./b?x=/../%2e%2e', '/a/b?x=/../%2e%2e'),
  row('/.well-known/acme', '/.well-known/acme'),
  row('/a"b', '/a%22b'),
  // An invalid `%` that decoding would complete into a new escape is itself escaped.
  row('/%%34%31', '/%2541'),
  refusedEverywhere('/..;/admin'),
  refusedEverywhere('/public/..;/admin'),
  refusedEverywhere('/.;/admin'),
  refusedEverywhere('/admin%00'),
  refusedEverywhere('/xyz/.%00../abc'),
  refusedEverywhere('/xyz/%00.%00./abc'),
  refusedEverywhere('/AAAAA%%0000/abc'),
  { ...row('/%2e%2e;/admin', 400), NONE: '/%2e%2e;/admin' },
  // What reached a decoding backend's admin page before (issue: path normalization).
  row('/public/../admin/', '/admin/'),
  row('/public/%2e%2e/admin/', '/admin/'),
  row('/public/..%2fadmin/', '/public/..%2fadmin/', '/public/..%2fadmin/', '/admin/'),
  row('/public;/../admin/', '/admin/'),
  row('/public/%2e%2e/%61dmin/', '/admin/'),
  row('/x/../admin', '/admin'),
  row('/./admin', '/admin'),
  row('//admin', '//admin', '/admin'),
]

/** Relative forms only the normalizer sees (a request target must start with `/`). */
export const RELATIVE_VECTORS: readonly PathVector[] = [
  row('a/b/../c', '/a/c'),
  row('..', '/'),
  row('', '/'),
]

/**
 * `/admin%XX` for every byte, in upper- and lower-case hex, with what each mode makes of it:
 * unreserved escapes are decoded, `%00` is refused, `%2F`/`%5C` become a slash only when
 * decoding slashes, everything else is kept exactly as sent.
 */
export function adminEscapeSweep(): {
  input: string
  expected: Record<PathNormalization, Expected>
}[] {
  const out: { input: string; expected: Record<PathNormalization, Expected> }[] = []
  for (let b = 1; b <= 0xff; b++) {
    const hex = b.toString(16).padStart(2, '0')
    for (const spelled of new Set([hex.toUpperCase(), hex.toLowerCase()])) {
      const input = `/admin%${spelled}`
      const ch = String.fromCharCode(b)
      const unreserved = /^[A-Za-z0-9._~-]$/.test(ch)
      const kept = unreserved ? `/admin${ch}` : input
      const slash = b === 0x2f || b === 0x5c
      out.push({
        input,
        expected: {
          NONE: input,
          BASE: kept,
          MERGE_SLASHES: kept,
          DECODE_AND_MERGE_SLASHES: slash ? '/admin/' : kept,
        },
      })
    }
  }
  out.push({
    input: '/admin%00',
    expected: { NONE: 400, BASE: 400, MERGE_SLASHES: 400, DECODE_AND_MERGE_SLASHES: 400 },
  })
  return out
}
