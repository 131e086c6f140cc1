import { test } from 'node:test'
import assert from 'node:assert/strict'
import { compileRe2 } from './re2.js'

test('full match by default, as Envoy safe_regex', () => {
  const r = compileRe2('/api/v[0-9]+')
  assert.ok(r.ok)
  assert.equal(r.regex.test('/api/v1'), true)
  assert.equal(r.regex.test('/api/v1/x'), false)
})

test('(?i) becomes a flag', () => {
  const r = compileRe2('(?i)^jason$')
  assert.ok(r.ok)
  assert.equal(r.regex.test('JASON'), true)
})

test('look-ahead and back-references are refused', () => {
  assert.equal(compileRe2('^(?!admin).*').ok, false)
  assert.equal(compileRe2('(a)\\1').ok, false)
  assert.equal(compileRe2('\\\\1').ok, true) // an escaped backslash followed by 1
})

test('named groups in RE2 spelling', () => {
  const r = compileRe2('/(?P<id>[0-9]+)')
  assert.ok(r.ok)
  assert.equal(r.regex.exec('/42')?.groups?.['id'], '42')
})

test('syntax errors carry a reason', () => {
  const r = compileRe2('([')
  assert.equal(r.ok, false)
})
