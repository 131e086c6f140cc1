// What a client and an upstream see of tracing through the real handler, with the real SDK
// exporting to an OTLP/HTTP receiver: the client's trace headers give way to the gateway span
// (x-envoy-attempt-count stays the last header), and a direct response is a span of its own.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import type * as ir from '../../ir/index.js'
import { createTracing, type Tracing } from '../../observe/tracing/index.js'
import {
  client,
  cluster,
  destination,
  forward,
  prefixMatch,
  route,
  snapshot,
  startGateway,
  startUpstream,
  vhost,
} from '../../../test/support/http-harness.js'
import { startOtlpReceiver } from '../../../test/support/otlp-receiver.js'
import type { SpanReceiver } from '../../../test/support/span-receiver.js'

const TRACE = '0af7651916cd43dd8448eb211c80319c'
const PARENT = 'b7ad6b7169203331'

/**
 * Export to the OTLP receiver on `port`; 0 %: only requests with a sampled parent are traced.
 * Both formats by default, as a Telemetry naming an OpenTelemetry and a Zipkin provider has them.
 */
function otlpPlan(
  port: number,
  propagation: ir.TraceContextFormat[] = ['w3c', 'b3'],
): ir.TracingPlan {
  return {
    propagation,
    providers: [
      {
        kind: 'opentelemetry',
        name: 'otel',
        url: `http://127.0.0.1:${port}/v1/traces`,
        timeoutMs: 2000,
        headers: {},
      },
    ],
    samplingPercent: 0,
    customTags: [],
    serviceName: 'edge',
    source: 'istio-system/mesh-default',
  }
}

/** An OTLP receiver and the SDK pipelines exporting to it at once (10 ms batches), closed after `t`. */
async function receiverAndTracing(
  t: TestContext,
): Promise<{ otlp: SpanReceiver; tracing: Tracing }> {
  const otlp = await startOtlpReceiver()
  t.after(() => otlp.close())
  const tracing = createTracing({ delayMs: 10 })
  t.after(() => tracing.shutdown())
  return { otlp, tracing }
}

test('the upstream gets the gateway span as parent; the receiver gets the span', async (t) => {
  const up = await startUpstream(t, 'u')
  const { otlp, tracing } = await receiverAndTracing(t)
  const c = cluster('svc.example.com', [{ port: up.port }])
  const direct: ir.RouteAction = { kind: 'direct', status: 204 }
  const snap = snapshot({
    virtualHosts: [
      vhost(
        ['*'],
        [
          route('direct', direct, { match: [prefixMatch('/direct')] }),
          route('fwd', forward(destination(c))),
        ],
      ),
    ],
    clusters: [c],
  })
  const plan = otlpPlan(otlp.port)
  const gw = await startGateway(t, { ...snap, tracing: plan }, { tracing })
  const http = client(t)

  const res = await http.get(`${gw.url}/a`, {
    headers: {
      host: 'svc.example.com',
      traceparent: `00-${TRACE}-${PARENT}-01`,
      'X-B3-TraceId': 'ffffffffffffffffffffffffffffffff',
      'X-B3-SpanId': 'ffffffffffffffff',
      'X-B3-Sampled': '0',
    },
  })
  assert.equal(res.statusCode, 200)
  await res.body.text()
  const raw = up.seen[0]!.rawHeaders
  assert.equal(raw.at(-2), 'x-envoy-attempt-count')
  assert.equal(raw.at(-1), '1')
  const names = raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())
  assert.equal(names.filter((n) => n === 'traceparent').length, 1)
  assert.equal(names.filter((n) => n === 'x-b3-traceid').length, 1)
  const headers = up.seen[0]!.headers
  const [, traceId, spanId, flags] = String(headers['traceparent']).split('-')
  assert.equal(traceId, TRACE)
  assert.equal(flags, '01')
  assert.equal(headers['x-b3-traceid'], TRACE)
  assert.equal(headers['x-b3-sampled'], '1')

  const direct204 = await http.get(`${gw.url}/direct`, {
    headers: { host: 'svc.example.com', traceparent: `00-${TRACE}-${PARENT}-01` },
  })
  assert.equal(direct204.statusCode, 204)
  await direct204.body.text()

  const spans = await otlp.waitForSpans(3)
  // The upstream's parent is the attempt's CLIENT span, whose parent is the request's span.
  const attempt = spans.find((s) => s.spanId === spanId)
  assert.equal(attempt?.kind, 'CLIENT')
  const fwd = spans.find((s) => s.spanId === attempt?.parentId)
  assert.ok(fwd, 'the forwarded request is exported')
  assert.equal(fwd.kind, 'SERVER')
  assert.equal(fwd.parentId, PARENT)
  assert.equal(fwd.name, 'svc.example.com:80/*')
  assert.equal(fwd.serviceName, 'edge')
  const local = spans.find((s) => s !== fwd && s !== attempt)!
  assert.equal(local.name, 'svc.example.com/direct')
  assert.equal(local.tags['http.status_code'], '204')
  assert.equal(local.tags['upstream_cluster'], '-')
})

test('an unsampled request without trace context: a fresh context upstream with sampled=0, nothing exported', async (t) => {
  // An OpenTelemetry provider's format only: traceparent is written, B3 headers are not trace
  // context to it and pass as the client sent them.
  const up = await startUpstream(t, 'u')
  const { otlp, tracing } = await receiverAndTracing(t)
  const c = cluster('svc.example.com', [{ port: up.port }])
  const snap = snapshot({
    virtualHosts: [vhost(['*'], [route('fwd', forward(destination(c)))])],
    clusters: [c],
  })
  const plan = otlpPlan(otlp.port, ['w3c'])
  const gw = await startGateway(t, { ...snap, tracing: plan }, { tracing })
  const http = client(t)
  const traceIds = new Set<string>()
  const clientB3 = { 'x-b3-traceid': TRACE, 'x-b3-spanid': PARENT, 'x-b3-sampled': '1' }
  for (let i = 0; i < 3; i++) {
    const sent = i === 2 ? clientB3 : {}
    const res = await http.get(`${gw.url}/a`, { headers: { host: 'svc.example.com', ...sent } })
    assert.equal(res.statusCode, 200)
    await res.body.text()
    const seen = up.seen[i]!
    const names = seen.rawHeaders.filter((_, j) => j % 2 === 0).map((n) => n.toLowerCase())
    assert.equal(names.filter((n) => n === 'traceparent').length, 1)
    assert.equal(seen.rawHeaders.at(-2), 'x-envoy-attempt-count')
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-00$/.exec(String(seen.headers['traceparent']))
    assert.ok(m, `traceparent ${String(seen.headers['traceparent'])}`)
    assert.notEqual(m[1], '0'.repeat(32))
    assert.notEqual(m[2], '0'.repeat(16))
    assert.equal(seen.headers['tracestate'], undefined)
    for (const [name, value] of Object.entries(clientB3)) {
      assert.equal(seen.headers[name], i === 2 ? value : undefined, `${name} on request ${i + 1}`)
    }
    traceIds.add(m[1]!)
  }
  assert.equal(traceIds.size, 3, 'each request starts its own trace')
  // A sampled request after them is exported (its span and its attempt's), and only it.
  const sampled = await http.get(`${gw.url}/b`, {
    headers: { host: 'svc.example.com', traceparent: `00-${TRACE}-${PARENT}-01` },
  })
  await sampled.body.text()
  const spans = await otlp.waitForSpans(2)
  assert.deepEqual(spans.map((s) => s.kind).sort(), ['CLIENT', 'SERVER'])
  assert.ok(spans.every((s) => s.traceId === TRACE))
})

test('a sampled request gets a CLIENT span per upstream attempt, each the parent its attempt carries', async (t) => {
  let calls = 0
  // The first attempt is answered 503, the retry 200.
  const up = await startUpstream(t, 'u', (_req, res) => {
    calls++
    res.writeHead(calls === 1 ? 503 : 200)
    res.end(calls === 1 ? 'unavailable' : 'ok')
  })
  const { otlp, tracing } = await receiverAndTracing(t)
  const c = cluster('svc.example.com', [{ port: up.port }])
  const r = route('fwd', forward(destination(c)), {
    retry: { attempts: 1, retryOn: ['5xx'], retriableStatusCodes: [], backoffBaseMs: 1 },
  })
  const snap = snapshot({ virtualHosts: [vhost(['*'], [r])], clusters: [c] })
  const plan = otlpPlan(otlp.port)
  const gw = await startGateway(t, { ...snap, tracing: plan }, { tracing })
  const res = await client(t).get(`${gw.url}/a`, {
    headers: { host: 'svc.example.com', traceparent: `00-${TRACE}-${PARENT}-01` },
  })
  assert.equal(res.statusCode, 200)
  await res.body.text()

  const spans = await otlp.waitForSpans(3)
  const server = spans.find((s) => s.kind === 'SERVER')
  assert.ok(server, 'the request span is exported')
  assert.equal(server.parentId, PARENT)
  const attempts = spans
    .filter((s) => s.kind === 'CLIENT')
    .sort((a, b) => Number(a.tags['retry.attempt']) - Number(b.tags['retry.attempt']))
  assert.equal(attempts.length, 2)
  for (const a of attempts) {
    assert.equal(a.traceId, TRACE)
    assert.equal(a.parentId, server.spanId)
    assert.equal(a.name, `router ${c.id} egress`)
    assert.equal(a.tags['upstream_cluster'], c.id)
  }
  assert.equal(attempts[0]!.tags['http.status_code'], '503')
  assert.equal(attempts[0]!.tags['error'], 'true')
  assert.equal(attempts[1]!.tags['http.status_code'], '200')
  assert.equal(attempts[1]!.tags['error'], undefined)
  // Each attempt's head names its own span as the parent, in W3C and in B3.
  assert.equal(up.seen.length, 2)
  up.seen.forEach((seen, i) => {
    const [, traceId, parentId, flags] = String(seen.headers['traceparent']).split('-')
    assert.equal(traceId, TRACE)
    assert.equal(flags, '01')
    assert.equal(parentId, attempts[i]!.spanId, `attempt ${i + 1}`)
    assert.equal(seen.headers['x-b3-spanid'], attempts[i]!.spanId)
    assert.equal(seen.headers['x-envoy-attempt-count'], String(i + 1))
  })
})

test('trace headers a route writes, or a client sends without a valid context, give way to the gateway span', async (t) => {
  const up = await startUpstream(t, 'u')
  const { otlp, tracing } = await receiverAndTracing(t)
  const c = cluster('svc.example.com', [{ port: up.port }])
  const writes: ir.HeaderRules = {
    request: {
      set: [['traceparent', `00-${TRACE}-${PARENT}-01`]],
      add: [['x-b3-sampled', '1']],
      remove: [],
    },
    response: { set: [], add: [], remove: [] },
  }
  const snap = snapshot({
    virtualHosts: [
      vhost(
        ['*'],
        [
          route('route-writes', forward(destination(c)), {
            match: [prefixMatch('/route')],
            headers: writes,
          }),
          route('destination-writes', forward(destination(c, { headers: writes })), {
            match: [prefixMatch('/destination')],
          }),
          route('plain', forward(destination(c))),
        ],
      ),
    ],
    clusters: [c],
  })
  const gw = await startGateway(t, { ...snap, tracing: otlpPlan(otlp.port) }, { tracing })
  const http = client(t)
  const cases: [string, Record<string, string>][] = [
    ['/route', {}],
    ['/destination', {}],
    ['/plain', { traceparent: 'not-a-trace-context', 'x-b3-sampled': '1' }],
  ]
  for (const [i, [path, sent]] of cases.entries()) {
    const res = await http.get(`${gw.url}${path}`, {
      headers: { host: 'svc.example.com', ...sent },
    })
    assert.equal(res.statusCode, 200)
    await res.body.text()
    const seen = up.seen[i]!
    const names = seen.rawHeaders.filter((_, j) => j % 2 === 0).map((n) => n.toLowerCase())
    for (const name of ['traceparent', 'x-b3-sampled']) {
      assert.equal(names.filter((n) => n === name).length, 1, `${path}: one ${name}`)
    }
    // Unsampled (0 %, no valid parent): the gateway's own fresh context, not what was written.
    assert.match(String(seen.headers['traceparent']), /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, path)
    assert.notEqual(String(seen.headers['traceparent']).split('-')[1], TRACE, path)
    assert.equal(seen.headers['x-b3-sampled'], '0', path)
    assert.equal(seen.rawHeaders.at(-2), 'x-envoy-attempt-count', path)
  }
})

test('a Zipkin plan (B3 only): a B3 parent is continued, a client traceparent passes as sent', async (t) => {
  const up = await startUpstream(t, 'u')
  const tracing = createTracing({ delayMs: 10 })
  t.after(() => tracing.shutdown())
  const c = cluster('svc.example.com', [{ port: up.port }])
  const snap = snapshot({
    virtualHosts: [vhost(['*'], [route('fwd', forward(destination(c)))])],
    clusters: [c],
  })
  const plan: ir.TracingPlan = { ...otlpPlan(1, ['b3']), providers: [] }
  const gw = await startGateway(t, { ...snap, tracing: plan }, { tracing })
  const clientTraceparent = `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`
  const res = await client(t).get(`${gw.url}/a`, {
    headers: {
      host: 'svc.example.com',
      'x-b3-traceid': TRACE,
      'x-b3-spanid': PARENT,
      'x-b3-sampled': '1',
      traceparent: clientTraceparent,
    },
  })
  assert.equal(res.statusCode, 200)
  await res.body.text()
  const seen = up.seen[0]!
  const names = seen.rawHeaders.filter((_, j) => j % 2 === 0).map((n) => n.toLowerCase())
  for (const name of ['x-b3-traceid', 'x-b3-spanid', 'x-b3-sampled', 'traceparent']) {
    assert.equal(names.filter((n) => n === name).length, 1, name)
  }
  assert.equal(seen.headers['x-b3-traceid'], TRACE)
  assert.match(String(seen.headers['x-b3-spanid']), /^[0-9a-f]{16}$/)
  assert.notEqual(seen.headers['x-b3-spanid'], PARENT, 'the upstream parent is the gateway')
  assert.equal(seen.headers['x-b3-sampled'], '1')
  assert.equal(seen.headers['traceparent'], clientTraceparent, 'not trace context to a B3 plan')
  assert.equal(seen.rawHeaders.at(-2), 'x-envoy-attempt-count')
})
