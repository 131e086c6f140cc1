import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Flag, formatFlags } from './flags.js'

test('every response flag has a bit of its own, so no flag prints as another', () => {
  const bits = Object.values(Flag)
  assert.equal(new Set(bits).size, bits.length)
  for (const [name, bit] of Object.entries(Flag)) {
    assert.equal(Math.log2(bit) % 1, 0, `${name} is one bit`)
    assert.equal(formatFlags(bit), name)
  }
})
