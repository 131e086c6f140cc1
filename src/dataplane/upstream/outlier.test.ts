// Outlier detection beyond the basics in balancer.test.ts: ejection time growing with each
// ejection, gateway errors counted on their own, local failures folded into 5xx without the
// split, and Envoy's rule that one endpoint may always be ejected.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type * as ir from '../../ir/index.js'
import { silentLogger } from '../../lib/index.js'
import { testEndpoints } from '../../../test/support/upstream-endpoints.js'
import { OutlierDetector } from './outlier.js'

const NOW = 1_000_000
const BASE: ir.OutlierDetectionPolicy = {
  consecutive5xxErrors: 2,
  consecutiveGatewayErrors: 0,
  consecutiveLocalOriginFailures: 0,
  splitExternalLocalOriginErrors: false,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionPercent: 100,
  minHealthPercent: 0,
}

const detector = (p: Partial<ir.OutlierDetectionPolicy> = {}) =>
  new OutlierDetector({ ...BASE, ...p }, 'outbound|80||svc', silentLogger)

describe('outlier detection', () => {
  test('each ejection lasts baseEjectionTime times the number of ejections so far', () => {
    const eps = testEndpoints(2)
    const od = detector()
    const e = eps[0]!
    od.onStatus(e, 500, eps, NOW)
    od.onStatus(e, 500, eps, NOW)
    assert.equal(e.ejectedUntil, NOW + 30_000)
    assert.equal(e.ejections, 1)
    const later = e.ejectedUntil + 1
    od.onStatus(e, 500, eps, later)
    od.onStatus(e, 500, eps, later)
    assert.equal(e.ejectedUntil, later + 60_000)
    assert.equal(e.ejections, 2)
  })

  test('errors while ejected do not extend the ejection', () => {
    const eps = testEndpoints(2)
    const od = detector()
    const e = eps[0]!
    for (let i = 0; i < 6; i++) od.onStatus(e, 503, eps, NOW)
    assert.equal(e.ejectedUntil, NOW + 30_000)
    assert.equal(e.ejections, 1)
  })

  test('consecutiveGatewayErrors counts 502, 503 and 504 only; another 5xx restarts it', () => {
    const eps = testEndpoints(2)
    const od = detector({ consecutive5xxErrors: 0, consecutiveGatewayErrors: 2 })
    const e = eps[0]!
    od.onStatus(e, 502, eps, NOW)
    od.onStatus(e, 500, eps, NOW)
    od.onStatus(e, 504, eps, NOW)
    assert.equal(e.ejectedUntil, 0, 'the 500 broke the run')
    od.onStatus(e, 503, eps, NOW)
    assert.equal(e.ejectedUntil, NOW + 30_000)
  })

  test('without the split, local failures count as 503s; a response resets them', () => {
    const eps = testEndpoints(2)
    const od = detector({ consecutiveLocalOriginFailures: 1 })
    const e = eps[0]!
    od.onLocalFailure(e, eps, NOW)
    assert.equal(e.ejectedUntil, 0, 'the local threshold does not apply without the split')
    od.onStatus(e, 200, eps, NOW)
    od.onLocalFailure(e, eps, NOW)
    assert.equal(e.ejectedUntil, 0)
    od.onLocalFailure(e, eps, NOW)
    assert.equal(e.ejectedUntil, NOW + 30_000)
  })

  test('with the split, a response resets the local count but 5xx do not add to it', () => {
    const eps = testEndpoints(2)
    const od = detector({
      consecutive5xxErrors: 0,
      splitExternalLocalOriginErrors: true,
      consecutiveLocalOriginFailures: 2,
    })
    const e = eps[0]!
    od.onLocalFailure(e, eps, NOW)
    od.onStatus(e, 503, eps, NOW)
    od.onLocalFailure(e, eps, NOW)
    assert.equal(e.ejectedUntil, 0, 'the 503 response proved the connection works')
    od.onLocalFailure(e, eps, NOW)
    assert.equal(e.ejectedUntil, NOW + 30_000)
  })

  test('one endpoint may always be ejected, whatever maxEjectionPercent says', () => {
    const eps = testEndpoints(2)
    const od = detector({ maxEjectionPercent: 10 })
    for (const e of eps) for (let i = 0; i < 2; i++) od.onStatus(e, 503, eps, NOW)
    assert.equal(eps[0]!.ejectedUntil, NOW + 30_000)
    assert.equal(eps[1]!.ejectedUntil, 0)
  })
})
