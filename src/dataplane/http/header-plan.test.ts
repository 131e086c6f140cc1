import { test } from 'node:test'
import assert from 'node:assert/strict'
import type * as ir from '../../ir/index.js'
import { compileHeaderPlan } from './header-plan.js'

const ops = (o: Partial<ir.HeaderOperations>): ir.HeaderOperations => ({
  set: [],
  add: [],
  remove: [],
  ...o,
})

test('set replaces incoming values, add appends, remove drops', () => {
  const plan = compileHeaderPlan([
    ops({ set: [['x-set', 'a']], add: [['x-add', 'b']], remove: ['x-gone'] }),
  ])
  assert.deepEqual([...plan.drop].sort(), ['x-gone', 'x-set'])
  assert.deepEqual(plan.append, [
    ['x-set', 'a'],
    ['x-add', 'b'],
  ])
})

test('the route level wins over the destination level', () => {
  const destination = ops({ set: [['x-owner', 'dest']], add: [['x-trace', 'd']] })
  const route = ops({ set: [['x-owner', 'route']], remove: ['x-trace'] })
  const plan = compileHeaderPlan([destination, route])
  assert.deepEqual(plan.append, [['x-owner', 'route']])
  assert.ok(plan.drop.has('x-trace'))
})

test('remove runs before add within a level, so a removed name can be re-added', () => {
  const plan = compileHeaderPlan([ops({ remove: ['x-a'], add: [['x-a', '1']] })])
  assert.ok(plan.drop.has('x-a'))
  assert.deepEqual(plan.append, [['x-a', '1']])
})

test('no operations give the shared empty plan', () => {
  const plan = compileHeaderPlan([ops({}), ops({})])
  assert.equal(plan.isEmpty, true)
})
