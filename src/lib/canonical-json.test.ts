import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { canonicalJson } from './canonical-json.js'
import { seededRandom as random } from '../../test/support/seeded-random.js'

/** What canonicalJson replaced: a sorted copy of every plain object, through JSON.stringify. */
function reference(value: unknown, stand?: ReadonlyMap<object, string>): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const d = stand?.get(v)
      if (d !== undefined) return { '#route': d }
      const out: Record<string, unknown> = {}
      for (const k of Object.keys(v).sort()) out[k] = (v as Record<string, unknown>)[k]
      return out
    }
    return v
  })
}

const KEYS = [
  'b',
  'a',
  'B',
  '10',
  '9',
  '0',
  '01',
  '-1',
  '1.5',
  'é',
  '"q"',
  '\n',
  '__x',
  '4294967295',
  '4294967294',
  '',
]
const LEAVES = [
  0,
  -0,
  1.5,
  -3,
  1e21,
  1e-7,
  NaN,
  Infinity,
  '',
  'x',
  'é\u2028"\\',
  '\ud800',
  true,
  false,
  null,
  undefined,
  () => 1,
]

function value(rnd: () => number, depth: number): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!
  const r = rnd()
  if (depth > 4 || r < 0.4) return pick(LEAVES)
  if (r < 0.6) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(rnd, depth + 1))
  if (r < 0.65) return new Date(Math.floor(rnd() * 1e12))
  if (r < 0.67) return new Map([[1, 2]])
  const out: Record<string, unknown> = {}
  for (let i = Math.floor(rnd() * 5); i > 0; i--) out[pick(KEYS)] = value(rnd, depth + 1)
  return out
}

describe('canonicalJson', () => {
  it('writes what JSON.stringify with a sorting replacer writes, on generated values', () => {
    for (let seed = 1; seed <= 5000; seed++) {
      const v = value(random(seed), 0)
      assert.equal(canonicalJson(v), reference(v), `seed ${seed}`)
    }
  })

  it('writes an object as the text `written` gives for it', () => {
    const route = { b: 1, a: [2] }
    const body = { z: [route, { route }], a: route }
    const stand = new Map<object, string>([[route, 'd1']])
    const written = (o: object): string | undefined => (o === route ? '{"#route":"d1"}' : undefined)
    assert.equal(canonicalJson(body, written), reference(body, stand))
    assert.equal(
      canonicalJson(body, written),
      '{"a":{"#route":"d1"},"z":[{"#route":"d1"},{"route":{"#route":"d1"}}]}',
    )
  })

  it('writes the compiled golden snapshots as before', () => {
    const dir = 'test/golden/compile'
    let n = 0
    for (const name of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
      const v: unknown = JSON.parse(readFileSync(`${dir}/${name}`, 'utf8'))
      assert.equal(canonicalJson(v), reference(v), name)
      n++
    }
    assert.ok(n > 0 || readdirSync(dir).length > 0)
  })
})
