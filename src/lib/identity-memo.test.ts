import { test } from 'node:test'
import assert from 'node:assert/strict'
import { memoByIdentity } from './identity-memo.js'

test('memoByIdentity computes once per object, and again for an equal but other object', () => {
  let calls = 0
  const size = memoByIdentity((o: { items: number[] }) => {
    calls++
    return o.items.length
  })
  const a = { items: [1, 2] }
  assert.equal(size(a), 2)
  assert.equal(size(a), 2)
  assert.equal(calls, 1)
  assert.equal(size({ items: [1, 2] }), 2)
  assert.equal(calls, 2)
})
