import { test } from 'node:test'
import assert from 'node:assert/strict'
import type * as ir from '../../ir/index.js'
import { EMPTY_HEADER_PLAN, compileHeaderPlan } from './header-plan.js'
import { buildUpstreamRequestHeaders, setAttemptCount } from './request-headers.js'
import type { ForwardingValues } from './request-headers.js'

const values: ForwardingValues = {
  authority: 'shop.example.com',
  forwardedFor: '203.0.113.1,10.0.0.1',
  forwardedProto: 'https',
  requestId: 'rid-1',
  externalAddress: undefined,
}

/** The list as pairs, to compare with deepEqual. */
function pairs(list: string[]): [string, string][] {
  const out: [string, string][] = []
  for (let i = 0; i < list.length; i += 2) out.push([list[i]!, list[i + 1]!])
  return out
}

test('hop-by-hop, Proxy-* and client x-envoy-* headers are stripped; names are lower-cased', () => {
  const raw = [
    'Host',
    'client.example.com',
    'Connection',
    'keep-alive',
    'Keep-Alive',
    'timeout=5',
    'TE',
    'trailers',
    'Transfer-Encoding',
    'chunked',
    'Upgrade',
    'h2c',
    'HTTP2-Settings',
    'AAMAAABkAAQAAP__',
    'Expect',
    '100-continue',
    'Proxy-Authorization',
    'Basic x',
    'Proxy-Connection',
    'keep-alive',
    'X-Envoy-Retry-On',
    '5xx',
    'Accept',
    'text/html',
    'Cookie',
    'a=1',
    'Cookie',
    'b=2',
  ]
  const out = buildUpstreamRequestHeaders(raw, 'keep-alive', EMPTY_HEADER_PLAN, values)
  assert.deepEqual(pairs(out), [
    ['accept', 'text/html'],
    ['cookie', 'a=1'],
    ['cookie', 'b=2'],
    ['host', 'shop.example.com'],
    ['x-forwarded-for', '203.0.113.1,10.0.0.1'],
    ['x-forwarded-proto', 'https'],
    ['x-request-id', 'rid-1'],
    ['x-envoy-attempt-count', '1'],
  ])
})

test('headers named by Connection go, but never the ones the gateway owns', () => {
  const raw = [
    'Connection',
    'X-Secret, x-request-id, X-Forwarded-For, content-length',
    'X-Secret',
    's',
    'Content-Length',
    '3',
    'X-Request-Id',
    'client-id',
    'X-Forwarded-For',
    '198.51.100.1',
  ]
  const out = buildUpstreamRequestHeaders(raw, raw[1], EMPTY_HEADER_PLAN, values)
  const names = pairs(out).map(([n]) => n)
  assert.ok(!names.includes('x-secret'))
  assert.ok(names.includes('content-length'))
  // The client's own copies are replaced by the gateway's values in any case.
  assert.deepEqual(
    pairs(out).filter(([n]) => n === 'x-request-id' || n === 'x-forwarded-for'),
    [
      ['x-forwarded-for', '203.0.113.1,10.0.0.1'],
      ['x-request-id', 'rid-1'],
    ],
  )
})

test('route plans drop and add headers, and may replace the gateway own ones', () => {
  const ops = (o: Partial<ir.HeaderOperations>): ir.HeaderOperations => ({
    set: [],
    add: [],
    remove: [],
    ...o,
  })
  const plan = compileHeaderPlan([
    ops({ set: [['x-request-id', 'fixed']], add: [['x-extra', '1']], remove: ['x-gone'] }),
  ])
  const out = buildUpstreamRequestHeaders(['X-Gone', '1', 'X-Kept', '2'], undefined, plan, {
    ...values,
    externalAddress: '203.0.113.1',
  })
  assert.deepEqual(pairs(out), [
    ['x-kept', '2'],
    ['host', 'shop.example.com'],
    ['x-forwarded-for', '203.0.113.1,10.0.0.1'],
    ['x-forwarded-proto', 'https'],
    ['x-envoy-external-address', '203.0.113.1'],
    ['x-request-id', 'fixed'],
    ['x-extra', '1'],
    ['x-envoy-attempt-count', '1'],
  ])
  setAttemptCount(out, 3)
  assert.deepEqual(out.slice(-2), ['x-envoy-attempt-count', '3'])
})
