// The bench's PROXY v2 header is one the gateway's own parser reads back as the addresses given.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseProxyHeader } from '../../src/dataplane/listeners/proxy-protocol.js'
import { v2Header } from '../../bench/proxy-v2-header.js'

test('v2Header parses back to its source and destination', () => {
  const bytes = v2Header(
    { address: '::ffff:192.0.2.7', port: 40123 },
    { address: '127.0.0.1', port: 8080 },
  )
  const parsed = parseProxyHeader(bytes)
  assert.equal(parsed.kind, 'header')
  if (parsed.kind !== 'header') return
  assert.equal(parsed.length, bytes.length)
  assert.equal(parsed.header.version, 2)
  assert.equal(parsed.header.proxied, true)
  assert.deepEqual(
    [parsed.header.source?.address, parsed.header.source?.port],
    ['192.0.2.7', 40123],
  )
  assert.deepEqual(
    [parsed.header.destination?.address, parsed.header.destination?.port],
    ['127.0.0.1', 8080],
  )
  assert.throws(() => v2Header({ address: '::1', port: 1 }, { address: '127.0.0.1', port: 2 }))
})
