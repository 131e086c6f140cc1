import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { compileRe2 } from '../lib/index.js'
import { re2SubstitutionToJs } from './rewrite.js'

/** Applies a converted rewrite as the data plane will: every match, JS replacement syntax. */
function apply(pattern: string, rewrite: string, path: string): string {
  const r = compileRe2(pattern, { fullMatch: false })
  assert.ok(r.ok)
  return path.replace(new RegExp(r.regex.source, `${r.regex.flags}g`), re2SubstitutionToJs(rewrite))
}

describe('re2SubstitutionToJs', () => {
  test('numbered groups and the whole match', () => {
    assert.equal(re2SubstitutionToJs('/v2/\\1/\\2'), '/v2/$1/$2')
    assert.equal(re2SubstitutionToJs('[\\0]'), '[$&]')
    assert.equal(
      apply('^/service/([^/]+)(/.*)$', '\\2/instance/\\1', '/service/a/b/c'),
      '/b/c/instance/a',
    )
  })
  test('a literal $ stays literal', () => {
    assert.equal(re2SubstitutionToJs('/price$1'), '/price$$1')
    assert.equal(apply('^/p$', '/cost$1', '/p'), '/cost$1')
  })
  test('a group followed by a digit is that group, then the digit', () => {
    assert.equal(apply('^/(a)$', '/\\12', '/a'), '/a2')
  })
  test('an escaped backslash is one backslash', () => {
    assert.equal(apply('^/(a)$', '/\\\\\\1', '/a'), '/\\a')
  })
  test('every match is replaced, as RE2 GlobalReplace does', () => {
    assert.equal(apply('o', '0', '/foo/boo'), '/f00/b00')
  })
})
