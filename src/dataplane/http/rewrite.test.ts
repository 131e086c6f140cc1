import { test } from 'node:test'
import assert from 'node:assert/strict'
import type * as ir from '../../ir/index.js'
import { matchedPrefixLengths, preparePathRewrite, rewritePath } from './rewrite.js'

test('a prefix rewrite swaps only the matched prefix', () => {
  const rw = preparePathRewrite({ prefix: '/v2' }, 'r')!
  assert.equal(rewritePath(rw, '/v1/users/7', '/v1'.length), '/v2/users/7')
})

test('an exact (or regex) match has its whole path replaced', () => {
  const rw = preparePathRewrite({ prefix: '/new/path' }, 'r')!
  assert.equal(rewritePath(rw, '/foo', -1), '/new/path')
})

test('a route without a uri condition matches as prefix "/", so "/" is what gets swapped', () => {
  const rw = preparePathRewrite({ prefix: '/bar' }, 'r')!
  assert.equal(rewritePath(rw, '/foo', 1), '/barfoo')
})

test('regex rewrites replace every match, with capture groups', () => {
  const rw = preparePathRewrite({ regex: { match: '/service/([^/]+)', rewrite: '/$1' } }, 'r')!
  assert.equal(rewritePath(rw, '/service/a/service/b/x', -1), '/a/b/x')
})

test('an invalid regex is refused when the snapshot is prepared', () => {
  assert.throws(
    () => preparePathRewrite({ regex: { match: '(?=x)', rewrite: '' } }, 'ns/vs/http[0]'),
    /ns\/vs\/http\[0\]/,
  )
})

test('matched prefix lengths follow each match entry', () => {
  const entry = (uri?: ir.StringMatch): ir.RequestMatch => ({
    ignoreUriCase: false,
    headers: [],
    queryParams: [],
    ...(uri !== undefined ? { uri } : {}),
  })
  const route = {
    match: [
      entry({ kind: 'prefix', value: '/api' }),
      entry({ kind: 'exact', value: '/x' }),
      entry({ kind: 'regex', regex: '/y.*' }),
      entry(),
    ],
  } as unknown as ir.HttpRoute
  assert.deepEqual(matchedPrefixLengths(route), [4, -1, -1, 1])
})
