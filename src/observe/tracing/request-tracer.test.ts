// The root decision ahead of the SDK: which requests count as bringing trace context (each of
// the headers the gateway reads and replaces), and that an unsampled root's ids are fresh and
// valid.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TRACE_CONTEXT_HEADERS } from '../../lib/index.js'
import { hasTraceContext } from './request-tracer.js'
import { UnsampledRootSpan } from './unsampled-root.js'

test('every trace-context header the gateway replaces counts as incoming context', () => {
  assert.equal(hasTraceContext({ host: 'a', 'user-agent': 'x' }), false)
  for (const name of TRACE_CONTEXT_HEADERS) {
    assert.equal(hasTraceContext({ host: 'a', [name]: '1' }), true, name)
  }
})

test('unsampled roots get distinct, valid ids across block refills', () => {
  const seen = new Set<string>()
  // 128 spans a block: 1000 spans refill it several times.
  for (let i = 0; i < 1000; i++) {
    const span = new UnsampledRootSpan(false)
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
