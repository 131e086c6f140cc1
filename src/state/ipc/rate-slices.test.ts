import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MAX_SLICED_KEYS, SliceBook, sliceLifetimeMs, sliceSize } from './rate-slices.js'

const GRANTED = {
  allowed: true,
  limit: 4096,
  remaining: 100,
  resetMs: 5,
  retryAfterMs: 0,
  error: false,
}

test('only rules of 1 024 or more per period are sliced, a thousandth of the limit each', () => {
  assert.equal(sliceSize({ limit: 1023, periodMs: 1000 }), 0)
  assert.equal(sliceSize({ limit: 1024, periodMs: 1000 }), 1)
  assert.equal(sliceSize({ limit: 1_000_000_000, periodMs: 1000 }), 976_562)
  // slice · T: T = ceil(1 000 000 µs / 4096) = 245 µs, 4 units → 0.98 ms.
  assert.equal(sliceLifetimeMs({ limit: 4096, periodMs: 1000 }, 4), 0.98)
})

test('a slice is spent unit by unit until empty, and not after its lifetime', () => {
  const book = new SliceBook()
  const first = book.grant('k', 4, 1, GRANTED, 1000, 10)
  assert.equal(first.allowed, true)
  assert.equal(first.remaining, 103)
  assert.equal(book.take('k', 2, 1005)?.remaining, 101)
  assert.equal(book.take('k', 2, 1005), undefined, 'one unit left: a cost of 2 is not taken')
  assert.equal(book.take('k', 1, 1009)?.allowed, true)
  assert.equal(book.take('k', 1, 1009), undefined, 'empty')
  book.grant('k', 4, 1, GRANTED, 2000, 10)
  assert.equal(book.take('k', 1, 2010), undefined, 'expired at grant + lifetime')
  assert.equal(book.size, 0, 'an expired slice is dropped')
})

test('the slices held are bounded: expired ones make room, live ones do not', () => {
  const book = new SliceBook()
  for (let i = 0; i < MAX_SLICED_KEYS; i++) book.grant(`k${i}`, 4, 1, GRANTED, 0, 10)
  assert.equal(book.hasRoom(5), false)
  assert.equal(book.hasRoom(10), true)
  assert.equal(book.size, 0)
})
