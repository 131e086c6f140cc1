import assert from 'node:assert/strict'
import { test } from 'node:test'
import { readFile } from 'node:fs/promises'
import { Flag, FLAG_MEANINGS, formatFlags } from './flags.js'

test('every response flag has a bit of its own, so no flag prints as another', () => {
  const bits = Object.values(Flag)
  assert.equal(new Set(bits).size, bits.length)
  for (const [name, bit] of Object.entries(Flag)) {
    assert.equal(Math.log2(bit) % 1, 0, `${name} is one bit`)
    assert.equal(formatFlags(bit), name)
  }
})

test('docs/diagnostics.md lists the catalogue: every flag, in print order, with its meaning', async () => {
  const doc = await readFile(new URL('../../../docs/diagnostics.md', import.meta.url), 'utf8')
  const table = doc.slice(doc.indexOf('<!-- flags:begin -->'), doc.indexOf('<!-- flags:end -->'))
  const rows = [...table.matchAll(/^\| `([A-Z]+)` +\| (.+?) +\|$/gm)].map((m) => [m[1], m[2]])
  assert.deepEqual(
    rows,
    Object.keys(Flag).map((name) => [name, FLAG_MEANINGS[name as keyof typeof Flag]]),
  )
})
