import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { isMap, isPair, isScalar, isSeq } from 'yaml'
import { parseSource } from './load.js'
import { locateIn } from './locate.js'
import { indexPositions } from './positions.js'
import type { Path } from './schema/index.js'

const ROOTS = ['test/golden/config', 'test/golden/compile', '../shared/istio-samples']

function yamlFiles(dir: string): string[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  return names.flatMap((n) => {
    const p = join(dir, n)
    if (statSync(p).isDirectory()) return yamlFiles(p)
    return /\.ya?ml$/.test(n) ? [p] : []
  })
}

/** Every path to a node, plus one missing child under each (the fallback to the parent). */
function paths(node: unknown, prefix: Path, out: Path[]): Path[] {
  out.push(prefix, [...prefix, 'no-such-field'], [...prefix, 99])
  if (isMap(node)) {
    for (const item of node.items) {
      if (isPair(item) && isScalar(item.key)) {
        const k = item.key.value
        paths(item.value, [...prefix, typeof k === 'number' ? k : String(k)], out)
      }
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => paths(item, [...prefix, i], out))
  }
  return out
}

describe('position index', () => {
  const files = ROOTS.flatMap(yamlFiles)

  it('finds config files to compare on', () => {
    assert.ok(files.length > 20, `only ${files.length} files`)
  })

  it('answers every path as locateIn does, from the index and after parsing again', () => {
    let compared = 0
    for (const path of files) {
      const text = readFileSync(path, 'utf8')
      const file = { display: path, absolute: path, text }
      for (const p of parseSource(file, [])) {
        const src = { doc: p.doc, lines: p.lines, file: path, text }
        const index = indexPositions(src)
        for (const q of paths(p.doc.contents, [], [])) {
          const want = locateIn(p.doc, p.lines, path, q)
          assert.deepEqual(index.locate(q), want, `${path} ${q.join('.')}`)
          compared++
        }
      }
    }
    assert.ok(compared > 1000, `only ${compared} paths`)
  })
})
