import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { configCorpusFiles, nodePaths } from '../../test/support/config-corpus.js'
import { parseYaml } from './load.js'
import { locateIn } from './locate.js'
import { indexPositions } from './positions.js'

describe('position index', () => {
  const files = configCorpusFiles()

  it('finds config files to compare on', () => {
    assert.ok(files.length > 20, `only ${files.length} files`)
  })

  it('answers every path as locateIn does, from the index and after parsing again', () => {
    let compared = 0
    for (const path of files) {
      const text = readFileSync(path, 'utf8')
      const file = { display: path, absolute: path, text }
      for (const p of parseYaml(file, [])) {
        const src = { doc: p.doc, lines: p.lines, file: path, text }
        const index = indexPositions(src)
        for (const q of nodePaths(p.doc.contents)) {
          const want = locateIn(p.doc, p.lines, path, q)
          assert.deepEqual(index.locate(q), want, `${path} ${q.join('.')}`)
          compared++
        }
      }
    }
    assert.ok(compared > 1000, `only ${compared} paths`)
  })
})
