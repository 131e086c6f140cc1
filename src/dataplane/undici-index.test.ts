// Its own file, so that no other test of this process has loaded undici's index first.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import './index.js'

test("the data plane loads undici's parts, not its index (fetch, WebSocket, cache)", () => {
  const files = Object.keys(createRequire(import.meta.url).cache)
  assert.ok(files.some((f) => f.endsWith('/node_modules/undici/lib/dispatcher/pool.js')))
  assert.deepEqual(
    files.filter((f) => /\/node_modules\/undici\/(index\.js|lib\/web\/fetch\/)/.test(f)),
    [],
  )
})
