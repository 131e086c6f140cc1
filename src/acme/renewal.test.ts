import { test } from 'node:test'
import assert from 'node:assert/strict'
import { backoffMs, renewalAtMs } from './renewal.js'

const DAY = 86_400_000
const cert = { notBeforeMs: 0, notAfterMs: 90 * DAY }

test('renews a third of the lifetime before expiry by default, earlier by at most a tenth of that', () => {
  assert.equal(renewalAtMs(cert, undefined, 0), 60 * DAY)
  assert.equal(renewalAtMs(cert, undefined, 0.999999), 60 * DAY - 3 * DAY * 0.999999)
})

test('renewBefore sets the window; one longer than the lifetime renews at once', () => {
  assert.equal(renewalAtMs(cert, 10 * DAY, 0), 80 * DAY)
  assert.ok(renewalAtMs(cert, 200 * DAY, 0) <= cert.notBeforeMs)
})

test('failures back off exponentially from 5 s to an hour, with ±20 % jitter', () => {
  assert.equal(backoffMs(1, 0.5), 5_000)
  assert.equal(backoffMs(2, 0.5), 10_000)
  assert.equal(backoffMs(4, 0.5), 40_000)
  assert.equal(backoffMs(30, 0.5), 3_600_000)
  assert.equal(backoffMs(1, 0), 4_000)
  assert.ok(backoffMs(1, 0.9999) <= 6_000)
})
