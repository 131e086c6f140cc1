// Trace context parsing and writing: W3C traceparent/tracestate, B3 single and multi header, by
// the formats of a plan (both unless a test says otherwise).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { trace } from '@opentelemetry/api'
import { propagationFor } from './propagation.js'

const T = '4bf92f3577b34da6a3ce929d0e0e4736'
const S = '00f067aa0ba902b7'

const both = propagationFor(['w3c', 'b3'])

function parent(headers: Record<string, string>, propagation = both) {
  return trace.getSpanContext(propagation.extract(headers))
}

describe('extract', () => {
  test('W3C traceparent, sampled and not, with tracestate', () => {
    const sampled = parent({ traceparent: `00-${T}-${S}-01`, tracestate: 'a=1,b=2' })
    assert.deepEqual(
      { traceId: sampled?.traceId, spanId: sampled?.spanId, flags: sampled?.traceFlags },
      { traceId: T, spanId: S, flags: 1 },
    )
    assert.equal(sampled?.isRemote, true)
    assert.equal(sampled?.traceState?.serialize(), 'a=1,b=2')
    assert.equal(parent({ traceparent: `00-${T}-${S}-00` })?.traceFlags, 0)
  })

  test('a malformed traceparent is no parent', () => {
    for (const bad of [
      `00-${T}-${S}`,
      `00-${'0'.repeat(32)}-${S}-01`,
      `00-${T}-${'0'.repeat(16)}-01`,
      `ff-${T}-${S}-01`,
      `00-${T.toUpperCase()}-${S}-01`,
      'garbage',
    ]) {
      assert.equal(parent({ traceparent: bad }), undefined, bad)
    }
  })

  test('B3 multi header: sampled 1/0/true, debug flag, 64-bit trace ids padded', () => {
    const multi = (sampled: string) =>
      parent({ 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-sampled': sampled })
    assert.equal(multi('1')?.traceFlags, 1)
    assert.equal(multi('true')?.traceFlags, 1)
    assert.equal(multi('0')?.traceFlags, 0)
    assert.equal(parent({ 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-flags': '1' })?.traceFlags, 1)
    const short = parent({ 'x-b3-traceid': 'a3ce929d0e0e4736', 'x-b3-spanid': S })
    assert.equal(short?.traceId, `${'0'.repeat(16)}a3ce929d0e0e4736`)
    assert.equal(parent({ 'x-b3-traceid': T }), undefined, 'a span id is required')
  })

  test('B3 single header: trace-span, trace-span-sampled, with a parent id, debug', () => {
    assert.equal(parent({ b3: `${T}-${S}` })?.spanId, S)
    assert.equal(parent({ b3: `${T}-${S}-1` })?.traceFlags, 1)
    assert.equal(parent({ b3: `${T}-${S}-0` })?.traceFlags, 0)
    assert.equal(parent({ b3: `${T}-${S}-d` })?.traceFlags, 1)
    assert.equal(parent({ b3: `${T}-${S}-1-${'1'.repeat(16)}` })?.spanId, S)
    assert.equal(parent({ b3: '0' }), undefined, 'b3: 0 only says "not sampled", no parent')
  })

  test('traceparent wins over B3 when both arrive', () => {
    const other = 'ffffffffffffffffffffffffffffffff'
    const both = parent({
      traceparent: `00-${T}-${S}-01`,
      'x-b3-traceid': other,
      'x-b3-spanid': S,
      'x-b3-sampled': '1',
    })
    assert.equal(both?.traceId, T)
  })

  test('no trace headers: no parent', () => {
    assert.equal(parent({ host: 'example.com' }), undefined)
  })
})

describe('inject', () => {
  test('W3C and B3 multi header, in a flat list, from one span context', () => {
    const ctx = both.extract({ traceparent: `00-${T}-${S}-01`, tracestate: 'a=1' })
    const out: string[] = ['host', 'example.com']
    both.inject(ctx, out)
    assert.deepEqual(out, [
      'host',
      'example.com',
      'traceparent',
      `00-${T}-${S}-01`,
      'tracestate',
      'a=1',
      'x-b3-traceid',
      T,
      'x-b3-spanid',
      S,
      'x-b3-sampled',
      '1',
    ])
  })

  test('an unsampled context propagates with sampled 0', () => {
    const out: string[] = []
    both.inject(both.extract({ b3: `${T}-${S}-0` }), out)
    assert.deepEqual(out, [
      'traceparent',
      `00-${T}-${S}-00`,
      'x-b3-traceid',
      T,
      'x-b3-spanid',
      S,
      'x-b3-sampled',
      '0',
    ])
  })

  test('no span context writes nothing', () => {
    const out: string[] = []
    both.inject(both.extract({}), out)
    assert.deepEqual(out, [])
  })
})

describe("a provider's formats", () => {
  const OTHER = 'ffffffffffffffffffffffffffffffff'
  const w3cHeaders = { traceparent: `00-${T}-${S}-01` }
  const b3Headers = { 'x-b3-traceid': OTHER, 'x-b3-spanid': S, 'x-b3-sampled': '1' }

  test('OpenTelemetry (W3C only): B3 is not read, only traceparent is written', () => {
    const w3c = propagationFor(['w3c'])
    assert.equal(parent(b3Headers, w3c), undefined)
    assert.equal(parent({ b3: `${OTHER}-${S}-1` }, w3c), undefined)
    assert.equal(parent({ ...b3Headers, ...w3cHeaders }, w3c)?.traceId, T)
    const out: string[] = []
    w3c.inject(w3c.extract(w3cHeaders), out)
    assert.deepEqual(out, ['traceparent', `00-${T}-${S}-01`])
  })

  test('Zipkin (B3 only): traceparent is not read, B3 multi header is written', () => {
    const b3 = propagationFor(['b3'])
    assert.equal(parent(w3cHeaders, b3), undefined)
    assert.equal(parent({ b3: `${T}-${S}-1` }, b3)?.traceId, T)
    const out: string[] = []
    b3.inject(b3.extract(b3Headers), out)
    assert.deepEqual(out, ['x-b3-traceid', OTHER, 'x-b3-spanid', S, 'x-b3-sampled', '1'])
  })

  test('Zipkin with USE_B3_WITH_W3C_PROPAGATION: B3 wins, W3C is the fallback, both written', () => {
    const b3First = propagationFor(['b3', 'w3c'])
    assert.equal(parent({ ...b3Headers, ...w3cHeaders }, b3First)?.traceId, OTHER)
    assert.equal(parent(w3cHeaders, b3First)?.traceId, T)
    const out: string[] = []
    b3First.inject(b3First.extract(w3cHeaders), out)
    assert.deepEqual(out, [
      'x-b3-traceid',
      T,
      'x-b3-spanid',
      S,
      'x-b3-sampled',
      '1',
      'traceparent',
      `00-${T}-${S}-01`,
    ])
  })
})
