import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createManualClock } from '../../../test/support/manual-clock.js'
import { RateTable } from './rate-table.js'

describe('RateTable', () => {
  test('periods that do not divide evenly round T up to a whole microsecond', () => {
    const clock = createManualClock()
    const table = new RateTable(clock)
    const rule = { limit: 3, periodMs: 1000 } // T = 333 334 µs
    for (let i = 0; i < 3; i++) assert.equal(table.consume('k', rule).allowed, true)
    const refused = table.consume('k', rule)
    assert.equal(refused.allowed, false)
    assert.equal(refused.retryAfterMs, 333.334)
    clock.advance(333.333)
    assert.equal(table.consume('k', rule).allowed, false)
    clock.advance(0.001)
    assert.equal(table.consume('k', rule).allowed, true)
  })

  test('cost 0 reports the bucket without taking from it', () => {
    const table = new RateTable(createManualClock())
    const rule = { limit: 4, periodMs: 4000 }
    table.consume('k', rule, 3)
    const peek = table.consume('k', rule, 0)
    assert.equal(peek.allowed, true)
    assert.equal(peek.remaining, 1)
    assert.equal(table.consume('k', rule).remaining, 0)
  })

  test('a cost above the limit is refused with a finite retry-after', () => {
    const table = new RateTable(createManualClock())
    const d = table.consume('k', { limit: 2, periodMs: 1000 }, 3)
    assert.equal(d.allowed, false)
    assert.equal(d.remaining, 2)
    assert.equal(d.retryAfterMs, 1000)
  })

  test('rules and costs no limiter can honour throw', () => {
    const table = new RateTable(createManualClock())
    assert.throws(() => table.consume('k', { limit: 0, periodMs: 1000 }), RangeError)
    assert.throws(() => table.consume('k', { limit: 1.5, periodMs: 1000 }), RangeError)
    assert.throws(() => table.consume('k', { limit: 1, periodMs: 0 }), RangeError)
    assert.throws(() => table.consume('k', { limit: 1, periodMs: 1000 }, -1), RangeError)
    assert.throws(() => new RateTable(createManualClock(), 0), RangeError)
  })

  test('keys whose bucket refilled are swept, so memory follows the live keys', () => {
    const clock = createManualClock()
    const table = new RateTable(clock)
    const rule = { limit: 10, periodMs: 1000 }
    let peak = 0
    // 100 000 distinct keys over 100 s, about 1 000 live at any moment.
    for (let i = 0; i < 100_000; i++) {
      table.consume(`client-${i}`, rule)
      clock.advance(1)
      peak = Math.max(peak, table.size)
    }
    assert.ok(peak <= 4 * 1024, `peak ${peak} entries`)
  })

  test('beyond maxKeys the least recently used key is dropped, not the busy one', () => {
    const table = new RateTable(createManualClock(), 100)
    const rule = { limit: 1, periodMs: 60_000 }
    assert.equal(table.consume('busy', rule).allowed, true)
    for (let i = 0; i < 1000; i++) {
      table.consume(`flood-${i}`, rule)
      // The busy key keeps being used, so it stays at the recent end.
      if (i % 50 === 0) assert.equal(table.consume('busy', rule).allowed, false)
    }
    assert.ok(table.size <= 100)
    assert.equal(table.consume('busy', rule).allowed, false, 'still limited')
    assert.equal(table.consume('flood-0', rule).allowed, true, 'forgotten')
  })
})
