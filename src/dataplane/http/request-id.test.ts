import { test } from 'node:test'
import assert from 'node:assert/strict'
import { newRequestId } from './request-id.js'

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

test('request ids are version-4 UUIDs, distinct across more than one random batch', () => {
  const seen = new Set<string>()
  for (let i = 0; i < 1000; i++) {
    const id = newRequestId()
    assert.match(id, UUID_V4)
    seen.add(id)
  }
  assert.equal(seen.size, 1000)
})
