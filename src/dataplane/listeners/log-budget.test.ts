import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createLogBudget } from './log-budget.js'

test('a reason gets its lines per interval, then reports what it suppressed', () => {
  let clock = 0
  const budget = createLogBudget(2, 1000, () => clock)
  assert.deepEqual(budget.take('a'), { allowed: true, suppressed: 0 })
  assert.deepEqual(budget.take('a'), { allowed: true, suppressed: 0 })
  for (let i = 0; i < 100; i++) assert.equal(budget.take('a').allowed, false)
  // Another reason has its own budget.
  assert.equal(budget.take('b').allowed, true)
  clock = 1000
  assert.deepEqual(budget.take('a'), { allowed: true, suppressed: 100 })
  assert.deepEqual(budget.take('a'), { allowed: true, suppressed: 0 })
  assert.equal(budget.take('a').allowed, false)
})
