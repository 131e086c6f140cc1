import { test } from 'node:test'
import assert from 'node:assert/strict'
import type * as ir from '../../ir/index.js'
import { EMPTY_HEADER_PLAN, compileHeaderPlan } from './header-plan.js'
import { buildDownstreamResponseHeaders, headerListToObject } from './response-headers.js'

const raw = (...kv: string[]): Buffer[] => kv.map((s) => Buffer.from(s, 'latin1'))

test('hop-by-hop response headers and those Connection names are dropped', () => {
  const out = buildDownstreamResponseHeaders(
    raw(
      'Content-Type',
      'text/html',
      'Connection',
      'keep-alive, X-Internal',
      'Keep-Alive',
      'timeout=5',
      'Transfer-Encoding',
      'chunked',
      'Proxy-Authenticate',
      'Basic',
      'Trailer',
      'x-checksum',
      'X-Internal',
      'secret',
      'Set-Cookie',
      'a=1',
      'Set-Cookie',
      'b=2',
      'Server',
      'upstream/1.0',
    ),
    EMPTY_HEADER_PLAN,
    'istio-envoy',
    7,
  )
  assert.deepEqual(headerListToObject(out), {
    __proto__: null,
    'content-type': 'text/html',
    'set-cookie': ['a=1', 'b=2'],
    'x-envoy-upstream-service-time': '7',
    server: 'istio-envoy',
  })
})

test('without a server header setting the upstream one passes', () => {
  const out = buildDownstreamResponseHeaders(
    raw('Server', 'upstream/1.0'),
    EMPTY_HEADER_PLAN,
    undefined,
    1,
  )
  assert.deepEqual(out, ['server', 'upstream/1.0', 'x-envoy-upstream-service-time', '1'])
})

test('response operations apply after the gateway headers, and server stays last', () => {
  const ops = (o: Partial<ir.HeaderOperations>): ir.HeaderOperations => ({
    set: [],
    add: [],
    remove: [],
    ...o,
  })
  const plan = compileHeaderPlan([
    ops({
      set: [['cache-control', 'no-store']],
      add: [['x-served-by', 'gw']],
      remove: ['x-envoy-upstream-service-time', 'x-powered-by'],
    }),
  ])
  const out = buildDownstreamResponseHeaders(
    raw('Cache-Control', 'max-age=60', 'X-Powered-By', 'php'),
    plan,
    'istio-envoy',
    3,
  )
  assert.deepEqual(out, ['cache-control', 'no-store', 'x-served-by', 'gw', 'server', 'istio-envoy'])
})
