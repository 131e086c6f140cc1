import { test } from 'node:test'
import assert from 'node:assert/strict'
import { findQueryParam } from './query.js'

test('finds a value by key', () => {
  assert.equal(findQueryParam('a=1&b=2', 'b'), '2')
  assert.equal(findQueryParam('a=1&b=2', 'a'), '1')
})

test('a bare key and an empty value both read as the empty string', () => {
  assert.equal(findQueryParam('debug', 'debug'), '')
  assert.equal(findQueryParam('x=1&debug&y=2', 'debug'), '')
  assert.equal(findQueryParam('debug=', 'debug'), '')
})

test('missing keys and empty queries give undefined', () => {
  assert.equal(findQueryParam('', 'a'), undefined)
  assert.equal(findQueryParam('ab=1', 'a'), undefined)
  assert.equal(findQueryParam('&&', 'a'), undefined)
})

test('the first occurrence wins', () => {
  assert.equal(findQueryParam('a=1&a=2', 'a'), '1')
})

test('keys and values are percent-decoded; plus signs are not spaces', () => {
  assert.equal(findQueryParam('na%6De=J%20S', 'name'), 'J S')
  assert.equal(findQueryParam('q=a+b', 'q'), 'a+b')
  assert.equal(findQueryParam('q=%zz', 'q'), '%zz')
})

test('a value may contain =', () => {
  assert.equal(findQueryParam('t=a=b', 't'), 'a=b')
})
