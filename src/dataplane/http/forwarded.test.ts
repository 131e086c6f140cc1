import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  appendForwardedFor,
  forwardedProto,
  isInternalAddress,
  peerIp,
  trustedClientAddress,
} from './forwarded.js'

test('X-Forwarded-For gets the peer appended, as Envoy does', () => {
  assert.equal(appendForwardedFor(undefined, '10.0.0.9'), '10.0.0.9')
  assert.equal(appendForwardedFor('203.0.113.7', '10.0.0.9'), '203.0.113.7,10.0.0.9')
})

test('IPv4-mapped peers are shown as IPv4', () => {
  assert.equal(peerIp('::ffff:127.0.0.1'), '127.0.0.1')
  assert.equal(peerIp('::1'), '::1')
})

test('the trusted client address counts trusted proxies from the right', () => {
  const xff = '203.0.113.128, 203.0.113.10, 203.0.113.1'
  assert.equal(trustedClientAddress(xff, '192.0.2.5', 0), '192.0.2.5')
  assert.equal(trustedClientAddress(xff, '192.0.2.5', 1), '203.0.113.1')
  assert.equal(trustedClientAddress(xff, '192.0.2.5', 2), '203.0.113.10')
  assert.equal(trustedClientAddress(xff, '192.0.2.5', 4), '192.0.2.5')
  assert.equal(trustedClientAddress(undefined, '192.0.2.5', 1), '192.0.2.5')
})

test('X-Forwarded-Proto from the client counts only behind trusted proxies', () => {
  assert.equal(forwardedProto('https', 'http', 0), 'http')
  assert.equal(forwardedProto('https', 'http', 1), 'https')
  assert.equal(forwardedProto(undefined, 'http', 1), 'http')
})

test('internal addresses', () => {
  for (const ip of [
    '10.1.2.3',
    '127.0.0.1',
    '192.168.0.1',
    '172.16.0.1',
    '172.31.9.9',
    '::1',
    'fd00::1',
  ]) {
    assert.equal(isInternalAddress(ip), true, ip)
  }
  for (const ip of ['172.32.0.1', '8.8.8.8', '203.0.113.1', '2001:db8::1']) {
    assert.equal(isInternalAddress(ip), false, ip)
  }
})
