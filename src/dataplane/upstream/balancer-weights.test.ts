// The balancers with endpoint weights and ejections beyond balancer.test.ts: weighted round
// robin, no pick when every endpoint is ejected (503 UH), and the consistent-hash ring moving
// only the keys of an ejected endpoint.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type * as ir from '../../ir/index.js'
import { createBalancer, hashString } from './balancer.js'
import { testEndpoints } from '../../../test/support/upstream-endpoints.js'

const NOW = 1_000_000
const RING: ir.LoadBalancer = {
  kind: 'CONSISTENT_HASH',
  key: { kind: 'header', name: 'x-user' },
  ringSize: 1024,
}

describe('balancers with weights and ejections', () => {
  test('round robin follows the endpoint weights exactly', () => {
    const eps = testEndpoints(2, [3, 1])
    const lb = createBalancer(undefined, eps)
    const counts = [0, 0]
    for (let i = 0; i < 400; i++) counts[eps.indexOf(lb.pick(undefined, undefined, NOW)!)]!++
    assert.deepEqual(counts, [300, 100])
  })

  for (const lb of [undefined, { kind: 'RANDOM' }, { kind: 'LEAST_REQUEST' }, RING] as const) {
    test(`${lb?.kind ?? 'ROUND_ROBIN'}: no endpoint when every one is ejected`, () => {
      const eps = testEndpoints(3)
      for (const e of eps) e.ejectedUntil = NOW + 1000
      const b = createBalancer(lb, eps)
      assert.equal(b.pick(hashString('k'), undefined, NOW), undefined)
      assert.equal(b.pick(undefined, undefined, NOW), undefined)
      assert.ok(b.pick(undefined, undefined, NOW + 1000) !== undefined, 'back after the ejection')
    })
  }

  test('consistent hash: ejecting an endpoint moves only its own keys', () => {
    const eps = testEndpoints(4)
    const lb = createBalancer(RING, eps)
    const keys = Array.from({ length: 200 }, (_, i) => hashString(`user-${i}`))
    const before = keys.map((k) => lb.pick(k, undefined, NOW)!)
    const victim = eps[1]!
    victim.ejectedUntil = NOW + 1000
    let moved = 0
    keys.forEach((k, i) => {
      const now = lb.pick(k, undefined, NOW)!
      assert.notEqual(now, victim)
      if (before[i] === victim) moved++
      else assert.equal(now, before[i], 'a key of another endpoint stayed')
    })
    assert.ok(moved > 0, 'the victim owned some keys')
  })

  test('least request weighs requests in flight by endpoint weight', () => {
    const eps = testEndpoints(2, [4, 1])
    eps[0]!.active = 3 // 0.75 per unit of weight
    eps[1]!.active = 1 // 1 per unit of weight
    const lb = createBalancer({ kind: 'LEAST_REQUEST' }, eps)
    for (let i = 0; i < 20; i++) assert.equal(lb.pick(undefined, undefined, NOW), eps[0])
  })
})
