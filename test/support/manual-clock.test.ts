import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createManualClock } from './manual-clock.js'

test('advance runs due timers in time order, each at its due time', () => {
  const clock = createManualClock(1000)
  const seen: string[] = []
  const stop = clock.every(30, () => seen.push(`every@${clock.now()}`))
  clock.after(45, () => seen.push(`after@${clock.now()}`))
  const cancelled = clock.after(10, () => seen.push('cancelled'))
  cancelled()
  clock.advance(100)
  assert.deepEqual(seen, ['every@1030', 'after@1045', 'every@1060', 'every@1090'])
  assert.equal(clock.now(), 1100)
  stop()
  clock.advance(100)
  assert.equal(seen.length, 4)
  assert.throws(() => clock.advance(-1), RangeError)
})
