import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type * as ir from '../ir/index.js'
import { isCatchAllMatch, isCatchAllRoute, moveCatchAllsLast } from './catch-all.js'

const m = (over: Partial<ir.RequestMatch> = {}): ir.RequestMatch => ({
  ignoreUriCase: false,
  headers: [],
  queryParams: [],
  ...over,
})

describe('isCatchAllMatch', () => {
  test('no path condition, prefix /, regex .* and a present uri match everything', () => {
    assert.equal(isCatchAllMatch(m()), true)
    assert.equal(isCatchAllMatch(m({ uri: { kind: 'prefix', value: '/' } })), true)
    assert.equal(isCatchAllMatch(m({ uri: { kind: 'regex', regex: '.*' } })), true)
    assert.equal(isCatchAllMatch(m({ uri: { kind: 'present' } })), true)
    assert.equal(
      isCatchAllMatch(m({ uri: { kind: 'prefix', value: '/' }, ignoreUriCase: true })),
      true,
    )
  })
  test('any other path condition is not a catch-all', () => {
    assert.equal(isCatchAllMatch(m({ uri: { kind: 'prefix', value: '/a' } })), false)
    assert.equal(isCatchAllMatch(m({ uri: { kind: 'exact', value: '/' } })), false)
    assert.equal(isCatchAllMatch(m({ uri: { kind: 'regex', regex: '/.*' } })), false)
  })
  test('a header, query, method, scheme or authority condition makes it selective', () => {
    const present: ir.StringMatch = { kind: 'present' }
    assert.equal(
      isCatchAllMatch(m({ headers: [{ name: 'x', match: present, invert: false }] })),
      false,
    )
    assert.equal(
      isCatchAllMatch(m({ headers: [{ name: 'x', match: present, invert: true }] })),
      false,
    )
    assert.equal(isCatchAllMatch(m({ queryParams: [{ name: 'q', match: present }] })), false)
    assert.equal(isCatchAllMatch(m({ method: { kind: 'exact', value: 'GET' } })), false)
    assert.equal(isCatchAllMatch(m({ scheme: { kind: 'exact', value: 'http' } })), false)
    assert.equal(isCatchAllMatch(m({ authority: { kind: 'exact', value: 'a' } })), false)
  })
  test('a name does not make a match selective', () => {
    assert.equal(isCatchAllMatch(m({ name: 'everything' })), true)
  })
})

describe('moveCatchAllsLast', () => {
  const route = (id: string, match: ir.RequestMatch[]) => ({ id, match }) as unknown as ir.HttpRoute
  test('catch-alls move behind the rest, both groups keep their order', () => {
    const routes = [
      route('a0', [m({ uri: { kind: 'prefix', value: '/a' } })]),
      route('a1', []),
      route('b0', [m({ uri: { kind: 'prefix', value: '/' } })]),
      route('b1', [m({ method: { kind: 'exact', value: 'GET' } })]),
      route('c0', [m({ uri: { kind: 'regex', regex: '.*' } })]),
    ]
    assert.deepEqual(
      moveCatchAllsLast(routes).map((r) => r.id),
      ['a0', 'b1', 'a1', 'b0', 'c0'],
    )
  })
  test('a route is a catch-all only when all its matches are', () => {
    assert.equal(
      isCatchAllRoute(route('x', [m(), m({ uri: { kind: 'prefix', value: '/a' } })])),
      false,
    )
    assert.equal(isCatchAllRoute(route('x', [])), true)
  })
})
