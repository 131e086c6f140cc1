import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createManualClock } from '../../../test/support/manual-clock.js'
import { LeaseTable } from './lease-table.js'

describe('LeaseTable', () => {
  test('a renewal puts back an expired lease only when there is room', () => {
    const clock = createManualClock()
    const table = new LeaseTable(clock)
    assert.equal(table.tryAcquire('k', 'a', 1, 100), true)
    clock.advance(150) // the holder stalled past its TTL
    assert.equal(table.tryAcquire('k', 'b', 1, 100), true)
    assert.equal(table.renew('k', 'a', 1, 100), false, 'the slot went to b')
    assert.equal(table.count('k'), 1)
    table.release('k', 'b')
    assert.equal(table.renew('k', 'a', 1, 100), true)
    assert.equal(table.count('k'), 1)
  })

  test('keys whose holders vanished are swept as new keys arrive', () => {
    const clock = createManualClock()
    const table = new LeaseTable(clock)
    let peak = 0
    for (let i = 0; i < 50_000; i++) {
      table.tryAcquire(`client-${i}`, table.nextId(), 5, 100)
      clock.advance(1)
      peak = Math.max(peak, table.size)
    }
    assert.ok(peak <= 4 * 1024, `peak ${peak} keys`)
  })

  test('release of an unknown lease or key changes nothing', () => {
    const table = new LeaseTable(createManualClock())
    table.tryAcquire('k', 'a', 2, 100)
    table.release('k', 'zzz')
    table.release('nope', 'a')
    assert.equal(table.count('k'), 1)
    assert.equal(table.count('nope'), 0)
  })
})
