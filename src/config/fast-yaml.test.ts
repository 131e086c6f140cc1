import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { virtualServiceDoc } from '../../bench/scale/generate.js'
import { configCorpusFiles, nodePaths } from '../../test/support/config-corpus.js'
import { LineCounter, parseAllDocuments } from 'yaml'
import { linesOf, parseFast } from './fast-yaml.js'
import { keepColonScalarsInFlowLists } from './load.js'
import { locateIn } from './locate.js'
import { INDEXED_DEPTH } from './position-keys.js'
import { indexFromStarts } from './positions.js'
import { seededRandom as random } from '../../test/support/seeded-random.js'

/**
 * When the fast path takes `text`, it must mean what the `yaml` package's parse means: no error
 * or warning there, the same documents and values, and the same position for every indexed path.
 * Returns whether the fast path took it.
 */
function agrees(text: string, name: string): boolean {
  const fast = parseFast(text)
  if (fast === undefined) return false
  const lines = new LineCounter()
  const docs = parseAllDocuments(text, {
    lineCounter: lines,
    version: '1.2',
    uniqueKeys: true,
    prettyErrors: false,
  })
  const list = Array.isArray(docs) ? docs : [docs]
  const show = `${name}:\n${text}`
  for (const d of list) {
    assert.deepEqual(d.errors, [], show)
    assert.deepEqual(d.warnings, [], show)
  }
  assert.equal(fast.length, list.length, `documents in ${show}`)
  const fastLines = linesOf(text)
  list.forEach((doc, i) => {
    keepColonScalarsInFlowLists(doc, text)
    const f = fast[i]!
    assert.equal(f.index, i, show)
    assert.deepEqual(f.value, doc.toJS({ maxAliasCount: 100 }), `value of ${show}`)
    // An empty document has no positions to compare (validation skips it).
    if (f.value === null) return
    const index = indexFromStarts({
      starts: f.starts,
      root: f.root,
      lines: fastLines,
      file: name,
      deep: () => assert.fail('an indexed path went deep'),
    })
    for (const q of nodePaths(doc.contents).filter((p) => p.length <= INDEXED_DEPTH)) {
      assert.deepEqual(index.locate(q), locateIn(doc, lines, name, q), `${q.join('.')} in ${show}`)
    }
  })
  return true
}

// What configs hold, typed or not (all in the fast path), and what the fast path gives up on.
const SCALARS = [
  'tenant-1',
  'a b',
  '1',
  '-1',
  '+2',
  '0o17',
  '0x1F',
  '017',
  '1.5',
  '.5',
  '1e3',
  '-.inf',
  '.nan',
  'true',
  'False',
  'TRUE',
  'yes',
  'on',
  'null',
  '~',
  'Null',
  '"quoted"',
  "'single'",
  "'it''s'",
  '""',
  '"a: b"',
  '"#x"',
  'a,b',
  'http://x.test/a',
  '/api/',
  '"*"',
  'a#b',
  'x:y',
  '-x',
  '1.2.3.4',
  'é',
  'a  #c',
]
const ODD_SCALARS = [
  '2001:db8::',
  '"\\n"',
  '@x',
  '`x',
  '%x',
  '!tag',
  '&a',
  '*a',
  '*',
  '|',
  '>',
  '?',
  ':x',
  '---',
  '...',
  'a]',
  '{}',
  '[]',
  'a: b',
  'a:',
]
const KEYS = ['name', 'spec', 'hosts', 'x-h', 'app.kubernetes.io/name', '1', '0x10', '1.0', 'true']
const ODD_KEYS = ['"q k"', "'s'", '"a:b"', 'a b', '<<', '__proto__', '~', 'null', '-k', 'k?', '""']

/** YAML in the shapes configs are written in, with some that the fast path must give up on. */
function generate(rnd: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!
  const pad = (n: number): string => ' '.repeat(n)
  const scalar = (): string => pick(rnd() < 0.03 ? ODD_SCALARS : SCALARS)
  const key = (): string => pick(rnd() < 0.03 ? ODD_KEYS : KEYS)
  const out: string[] = []
  const comment = (): string => (rnd() < 0.1 ? '  # note: x' : '')
  const value = (indent: number, depth: number, inSeq: boolean): string[] => {
    const r = rnd()
    if (depth > 3 || r < 0.4) return [` ${scalar()}${comment()}`]
    if (r < 0.55) return [` ${flow(depth)}${comment()}`]
    const step = pick([2, 2, 4, 1])
    const child = rnd() < 0.5 ? map(indent + step, depth + 1) : seq(indent + step, depth + 1)
    // A sequence may also sit at its key's column.
    if (!inSeq && rnd() < 0.2 && child[0]?.trimStart().startsWith('-')) {
      return ['', ...seq(indent, depth + 1)]
    }
    return ['', ...child]
  }
  // One-line flow collections: `[a, b]`, `{k: v}`, nested.
  const flow = (depth: number): string => {
    const n = Math.floor(rnd() * 3)
    const item = (): string => (depth < 4 && rnd() < 0.2 ? flow(depth + 1) : scalar())
    const sep = rnd() < 0.9 ? ', ' : ','
    if (rnd() < 0.5) return `[${Array.from({ length: n }, item).join(sep)}]`
    const keys = new Set(Array.from({ length: n }, key))
    const body = [...keys].map((k) => `${k}${rnd() < 0.95 ? ': ' : ':'}${item()}`).join(sep)
    return rnd() < 0.5 ? `{${body}}` : `{ ${body} }`
  }
  const map = (indent: number, depth: number): string[] => {
    const lines: string[] = []
    const n = 1 + Math.floor(rnd() * 3)
    for (let i = 0; i < n; i++) {
      const v = value(indent, depth, false)
      lines.push(`${pad(indent)}${key()}:${v[0]!}`, ...v.slice(1))
      if (rnd() < 0.05) lines.push(rnd() < 0.5 ? '' : `${pad(Math.floor(rnd() * 4))}# comment`)
    }
    return lines
  }
  const seq = (indent: number, depth: number): string[] => {
    const lines: string[] = []
    const n = 1 + Math.floor(rnd() * 3)
    for (let i = 0; i < n; i++) {
      if (rnd() < 0.5) {
        // `- key: v` with the rest of the map under the key.
        const m = map(indent + 2, depth + 1)
        lines.push(`${pad(indent)}- ${m[0]!.trimStart()}`, ...m.slice(1))
      } else {
        const v = value(indent, depth, true)
        lines.push(`${pad(indent)}-${v[0]!}`, ...v.slice(1))
      }
    }
    return lines
  }
  const docs = 1 + Math.floor(rnd() * 3)
  if (rnd() < 0.2) out.push(rnd() < 0.5 ? '# leading' : '', '---')
  for (let d = 0; d < docs; d++) {
    if (d > 0) out.push(rnd() < 0.9 ? '---' : pick(['--- ', '...', '--- # c', '--- a: 1']))
    out.push(...map(rnd() < 0.05 ? 2 : 0, 0))
  }
  let text = out.join('\n') + (rnd() < 0.9 ? '\n' : '')
  // Some damage: a character inserted or removed somewhere.
  if (rnd() < 0.1) {
    const at = Math.floor(rnd() * text.length)
    text =
      rnd() < 0.5
        ? text.slice(0, at) + pick([' ', '\t', ':', '-', '#', '"', '\n', '  ']) + text.slice(at)
        : text.slice(0, at) + text.slice(at + 1)
  }
  return text
}

describe('fast YAML path', () => {
  it('means what the yaml package means, on every config file it takes', () => {
    const files = configCorpusFiles()
    let taken = 0
    for (const path of files) if (agrees(readFileSync(path, 'utf8'), path)) taken++
    // Most real files are in the subset; the rest (block scalars, anchors, …) are parsed fully.
    console.log('TAKEN', taken, files.length)
    assert.ok(taken > files.length / 2, `took ${taken} of ${files.length}`)
  })

  it('means what the yaml package means, on generated text', () => {
    let taken = 0
    const runs = 3000
    for (let seed = 1; seed <= runs; seed++) {
      if (agrees(generate(random(seed)), `seed ${seed}`)) taken++
    }
    // Both sides matter: enough taken to compare, enough given up on to test the limits.
    console.log('TAKEN', taken, runs)
    assert.ok(taken > runs / 10 && taken < runs * 0.9, `took ${taken} of ${runs}`)
  })

  it('takes the generated tenant files of the scale benchmark', () => {
    const text = virtualServiceDoc(1)
    assert.ok(agrees(text, 'tenant.yaml'))
  })

  it('gives up on what it does not take', () => {
    for (const text of [
      'a: &x 1\nb: *x\n',
      'a: |\n  text\n',
      'a: "esc\\n"\n',
      'a:\n',
      'a: 1\na: 2\n',
      'a: b: c\n',
      'a:\tb\n',
      'a: 1\r\n',
      'a: {b}\n',
      'a: {"b":1}\n',
      'a: [b: 1]\n',
      'a: {b: 1,}\n',
      'a: [1,\n  2]\n',
      'a: plain\n  continued\n',
      '%YAML 1.2\n---\na: 1\n',
      '# only a comment\n',
      '',
    ]) {
      assert.equal(parseFast(text), undefined, JSON.stringify(text))
    }
  })
})
