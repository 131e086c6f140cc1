// The root decision ahead of the SDK: which requests count as bringing trace context (each of
// the headers the gateway reads and replaces), and that an unsampled root's ids are fresh and
// valid.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { B3_TRACE_HEADERS, W3C_TRACE_HEADERS } from '../../lib/index.js'
import { hasB3Context, hasW3cContext } from './request-tracer.js'
import { UnsampledRootSpan, unsampledWrites } from './unsampled-root.js'

test('every trace-context header the gateway replaces counts as incoming context, by format', () => {
  assert.equal(hasW3cContext({ host: 'a', 'user-agent': 'x' }), false)
  assert.equal(hasB3Context({ host: 'a', 'user-agent': 'x' }), false)
  for (const name of W3C_TRACE_HEADERS) {
    assert.equal(hasW3cContext({ host: 'a', [name]: '1' }), true, name)
    assert.equal(hasB3Context({ host: 'a', [name]: '1' }), false, name)
  }
  for (const name of B3_TRACE_HEADERS) {
    assert.equal(hasB3Context({ host: 'a', [name]: '1' }), true, name)
    assert.equal(hasW3cContext({ host: 'a', [name]: '1' }), false, name)
  }
})

test("an unsampled root writes its plan's formats in order", () => {
  const written = (formats: ('w3c' | 'b3')[]): string[] => {
    const headers: string[] = []
    new UnsampledRootSpan(false, unsampledWrites(formats)).inject(headers)
    return headers.filter((_, i) => i % 2 === 0)
  }
  const b3 = ['x-b3-traceid', 'x-b3-spanid', 'x-b3-sampled']
  assert.deepEqual(written(['w3c']), ['traceparent'])
  assert.deepEqual(written(['b3']), b3)
  assert.deepEqual(written(['w3c', 'b3']), ['traceparent', ...b3])
  assert.deepEqual(written(['b3', 'w3c']), [...b3, 'traceparent'])
})

test('unsampled roots get distinct, valid ids across block refills', () => {
  const seen = new Set<string>()
  // 128 spans a block: 1000 spans refill it several times.
  for (let i = 0; i < 1000; i++) {
    const span = new UnsampledRootSpan(false, unsampledWrites(['w3c', 'b3']))
    assert.match(span.traceId, /^[0-9a-f]{32}$/)
    assert.match(span.spanId, /^[0-9a-f]{16}$/)
    assert.notEqual(span.traceId, '0'.repeat(32))
    assert.notEqual(span.spanId, '0'.repeat(16))
    seen.add(span.traceId)
    const headers: string[] = []
    span.inject(headers)
    assert.deepEqual(headers, [
      'traceparent',
      `00-${span.traceId}-${span.spanId}-00`,
      'x-b3-traceid',
      span.traceId,
      'x-b3-spanid',
      span.spanId,
      'x-b3-sampled',
      '0',
    ])
  }
  assert.equal(seen.size, 1000)
})
