import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as undici from 'undici'
import { errors, Pool, util } from './undici.js'

test('the undici parts loaded file by file are the objects the package exports', () => {
  assert.equal(Pool, undici.Pool)
  assert.equal(errors, undici.errors)
  assert.equal(util.parseHeaders, undici.util.parseHeaders)
  assert.equal(util.headerNameToString, undici.util.headerNameToString)
  assert.ok(new errors.SocketError('x') instanceof undici.errors.UndiciError)
})
