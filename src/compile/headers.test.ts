import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { authorityFromHeaders, compileHeaderRules } from './headers.js'

describe('compileHeaderRules', () => {
  test('names are lower case and sorted; pseudo-headers and host are not header operations', () => {
    const rules = compileHeaderRules({
      request: {
        set: { 'X-B': '2', ':path': '/x', Host: 'h', 'x-a': '1' },
        add: { ':authority': 'a', 'X-C': '3' },
        remove: ['X-D', ':method', 'HOST'],
      },
    })
    assert.deepEqual(rules.request, {
      set: [
        ['x-a', '1'],
        ['x-b', '2'],
      ],
      add: [['x-c', '3']],
      remove: ['x-d'],
    })
    assert.deepEqual(rules.response, { set: [], add: [], remove: [] })
  })
})

describe('authorityFromHeaders', () => {
  test('a set of :authority or Host wins over an add', () => {
    assert.equal(
      authorityFromHeaders({
        request: { set: { Host: 'set.example' }, add: { ':authority': 'x' } },
      }),
      'set.example',
    )
    assert.equal(
      authorityFromHeaders({ request: { add: { ':Authority': 'add.example' } } }),
      'add.example',
    )
  })
  test('response headers and other names are not the authority', () => {
    assert.equal(authorityFromHeaders({ response: { set: { host: 'r' } } }), undefined)
    assert.equal(authorityFromHeaders({ request: { set: { 'x-host': 'x' } } }), undefined)
  })
})
