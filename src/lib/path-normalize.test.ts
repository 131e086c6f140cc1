import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { normalizePath, type PathNormalization } from './path-normalize.js'
import {
  adminEscapeSweep,
  PATH_VECTORS,
  RELATIVE_VECTORS,
  type Expected,
} from './test-path-vectors.js'

const MODES: readonly PathNormalization[] = [
  'NONE',
  'BASE',
  'MERGE_SLASHES',
  'DECODE_AND_MERGE_SLASHES',
]
const NORMALIZING = MODES.filter((m) => m !== 'NONE')

/** What a request carrying `input` gets in `mode`: the target, or 400. */
function outcome(input: string, mode: PathNormalization): Expected {
  const out = normalizePath(input, mode)
  return typeof out === 'string' ? out : 400
}

describe('path normalization: the golden table (hardening.md §3.3)', () => {
  for (const mode of MODES) {
    test(mode, () => {
      for (const v of [...PATH_VECTORS, ...(mode === 'NONE' ? [] : RELATIVE_VECTORS)]) {
        assert.equal(outcome(v.input, mode), v[mode], `${mode} ${JSON.stringify(v.input)}`)
      }
    })
  }

  test('every /admin%01…%ff escape, in both hex cases, in every mode', () => {
    const sweep = adminEscapeSweep()
    // 255 escapes, again in lower case for the 156 whose hex has a letter, and %00.
    assert.equal(sweep.length, 255 + 156 + 1)
    for (const { input, expected } of sweep) {
      for (const mode of MODES)
        assert.equal(outcome(input, mode), expected[mode], `${mode} ${input}`)
    }
  })

  test('a path that is already normal comes back as the same string', () => {
    for (const mode of MODES) {
      for (const p of [
        '/',
        '/api/v1/items',
        '/a-b_c~d.e/f?x=/../y',
        '/%20%25%3A',
        '/.well-known/x',
      ]) {
        assert.equal(normalizePath(p, mode), p)
      }
    }
  })

  test('the reasons for a refusal', () => {
    const reason = (p: string, mode: PathNormalization): string | undefined => {
      const out = normalizePath(p, mode)
      return typeof out === 'string' ? undefined : out.reason
    }
    assert.equal(reason('/a%00', 'BASE'), 'nul_escape')
    assert.equal(reason('/a/..;/b', 'BASE'), 'dot_semicolon_segment')
    assert.equal(reason('/a/.;x/b', 'NONE'), 'dot_semicolon_segment')
    assert.equal(reason('/a b', 'BASE'), 'invalid_character')
    assert.equal(reason('/a#b', 'MERGE_SLASHES'), 'invalid_character')
    assert.equal(reason('/é', 'NONE'), 'invalid_character')
  })
})

// Segments an attacker composes (hardening.md §3.4), and printable ASCII around them.
const SEGMENTS = [
  'admin',
  'Admin',
  '%61dmin',
  '.',
  '..',
  '',
  '%2e',
  '%2E%2e',
  '%2f',
  '%5c',
  '\\',
  ';',
  '..;',
  '%00',
  '%',
  '%zz',
  'public',
  '%25',
  '%2',
  '%%32',
]
const segment = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...SEGMENTS) },
  {
    weight: 1,
    arbitrary: fc.string({
      unit: fc.constantFrom(
        'a',
        'b',
        '.',
        '/',
        '\\',
        '%',
        ';',
        '2',
        'e',
        'E',
        'f',
        'F',
        '5',
        'c',
        '0',
      ),
    }),
  },
)
/** A path of 1–8 composed segments, with or without the leading slash, sometimes a query. */
const composedPath = fc
  .tuple(
    fc.boolean(),
    fc.array(fc.array(segment, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 8 }),
    fc.option(fc.string({ unit: fc.constantFrom('a', '=', '/', '.', '%', '2', 'e', '&') }), {
      nil: undefined,
    }),
  )
  .map(([leading, parts, query]) => {
    const path = (leading ? '/' : '') + parts.map((p) => p.join('')).join('/')
    return query === undefined ? path : `${path}?${query}`
  })

const SEED = 0x5eed
const RUNS_PER_MODE = 20_000

function pathOf(target: string): string {
  const q = target.indexOf('?')
  return q < 0 ? target : target.slice(0, q)
}

/** Escapes the single decoding pass would have decoded in `mode`. */
function decodableEscape(path: string, mode: PathNormalization): string | undefined {
  for (const m of path.matchAll(/%([0-9A-Fa-f]{2})/g)) {
    const ch = String.fromCharCode(parseInt(m[1]!, 16))
    if (/^[A-Za-z0-9._~-]$/.test(ch)) return m[0]
    if (mode === 'DECODE_AND_MERGE_SLASHES' && (ch === '/' || ch === '\\')) return m[0]
  }
  return undefined
}

describe('path normalization: properties (fast-check, seeded)', () => {
  for (const mode of NORMALIZING) {
    test(`${mode}: idempotent, no dot segments, no decodable escape, query untouched`, () => {
      fc.assert(
        fc.property(composedPath, (input) => {
          const out = normalizePath(input, mode)
          if (typeof out !== 'string') return // refused
          assert.equal(normalizePath(out, mode), out, 'normalizing twice changes nothing')
          const path = pathOf(out)
          const segments = path.split('/')
          assert.ok(!segments.includes('.') && !segments.includes('..'), `dot segment in ${out}`)
          assert.equal(decodableEscape(path, mode), undefined, `decodable escape left in ${out}`)
          assert.ok(!path.includes('\\'), `backslash left in ${out}`)
          if (mode !== 'BASE') assert.ok(!path.includes('//'), `// left in ${out}`)
          const q = input.indexOf('?')
          if (q >= 0) assert.equal(out.slice(out.indexOf('?')), input.slice(q), 'query untouched')
          assert.ok(!/\/\.\.?;/.test(path), `..; segment passed in ${out}`)
        }),
        { seed: SEED, numRuns: RUNS_PER_MODE },
      )
    })
  }
})
