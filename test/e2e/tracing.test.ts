// Tracing against the real gateway process: an OTLP/HTTP and a Zipkin receiver get the spans
// the real exporters send, parented on the incoming traceparent or B3 headers; the upstream sees
// the gateway span as its parent; the sampling rate holds; an unsampled parent exports nothing.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  proxyRouteDocs,
  request,
  startGateway,
  startUpstream,
} from './harness/index.js'
import type { GatewayProcess, Upstream } from './harness/index.js'
import { startOtlpReceiver } from '../support/otlp-receiver.js'
import { startZipkinReceiver } from '../support/zipkin-receiver.js'
import type { ReceivedSpan, SpanReceiver } from '../support/span-receiver.js'

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT = '00f067aa0ba902b7'

function providersSpec(otlpPort: number, zipkinPort: number): string[] {
  return [
    '  extensionProviders:',
    '    - name: otel',
    '      opentelemetry:',
    '        service: 127.0.0.1',
    `        port: ${otlpPort}`,
    '        http:',
    '          path: /v1/traces',
    '          timeout: 2s',
    '    - name: zipkin',
    '      zipkin:',
    '        service: 127.0.0.1',
    `        port: ${zipkinPort}`,
  ]
}

function telemetryDoc(percent: number): string {
  return `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: mesh-default
  namespace: istio-system
spec:
  tracing:
    - providers:
        - name: otel
        - name: zipkin
      randomSamplingPercentage: ${percent}
      customTags:
        team:
          literal:
            value: edge
        tenant:
          header:
            name: x-tenant
            defaultValue: none
`
}

/** traceparent → its trace id, parent span id and sampled flag. */
function parseTraceparent(v: unknown): { traceId: string; spanId: string; sampled: boolean } {
  assert.equal(typeof v, 'string', 'the upstream got a traceparent')
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(v as string)
  assert.ok(m, `traceparent ${String(v)}`)
  return { traceId: m[1]!, spanId: m[2]!, sampled: (parseInt(m[3]!, 16) & 1) === 1 }
}

/** The request's (SERVER) span of a trace. */
function spanOf(receiver: SpanReceiver, traceId: string): ReceivedSpan | undefined {
  return receiver.spans.find((s) => s.traceId === traceId && s.kind === 'SERVER')
}

/** The upstream attempts' (CLIENT) spans of a trace. */
function attemptsOf(receiver: SpanReceiver, traceId: string): ReceivedSpan[] {
  return receiver.spans.filter((s) => s.traceId === traceId && s.kind === 'CLIENT')
}

describe('tracing: OTLP and Zipkin export, propagation and sampling', () => {
  let gw: GatewayProcess
  let upstream: Upstream
  let otlp: SpanReceiver
  let zipkin: SpanReceiver
  let base: string

  before(async () => {
    upstream = await startUpstream({ name: 'echo' })
    otlp = await startOtlpReceiver()
    zipkin = await startZipkinReceiver()
    const [gatewayPort, readinessPort] = await freePorts(2)
    base = `http://127.0.0.1:${gatewayPort!}`
    gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({
          readinessPort: readinessPort!,
          accessLog: false,
          extraSpec: providersSpec(otlp.port, zipkin.port),
        }),
        proxyRouteDocs({ gatewayPort: gatewayPort!, upstreamPort: upstream.port }),
        telemetryDoc(10),
      ),
    })
  })
  after(async () => {
    await gw?.cleanup()
    await upstream?.close()
    await otlp?.close()
    await zipkin?.close()
  })

  test('a sampled traceparent: both receivers get the SERVER span, its parent the caller', async () => {
    const trace = `${TRACE.slice(0, 30)}01`
    const res = await request(`${base}/get?x=1`, {
      headers: {
        traceparent: `00-${trace}-${PARENT}-01`,
        tracestate: 'vendor=1',
        'x-request-id': 'req-w3c',
        'x-tenant': 'acme',
      },
    })
    assert.equal(res.status, 200)
    const seen = upstream.requests.at(-1)!
    const up = parseTraceparent(seen.headers['traceparent'])
    assert.equal(up.traceId, trace)
    assert.equal(up.sampled, true)
    assert.notEqual(up.spanId, PARENT, 'the upstream parent is the gateway, not the caller')
    assert.equal(seen.headers['tracestate'], 'vendor=1')
    assert.equal(seen.headers['x-b3-traceid'], trace)
    assert.equal(seen.headers['x-b3-spanid'], up.spanId)
    assert.equal(seen.headers['x-b3-sampled'], '1')
    for (const receiver of [otlp, zipkin]) {
      await waitUntil(
        () => spanOf(receiver, trace) !== undefined && attemptsOf(receiver, trace).length === 1,
      )
      const span = spanOf(receiver, trace)!
      assert.equal(span.parentId, PARENT)
      assert.equal(span.kind, 'SERVER')
      // The upstream's parent is the attempt's CLIENT span, a child of the request's span.
      const [attempt] = attemptsOf(receiver, trace)
      assert.equal(attempt?.spanId, up.spanId)
      assert.equal(attempt?.parentId, span.spanId)
      assert.equal(attempt?.name, 'router outbound|80||echo.upstream.test egress')
      assert.equal(attempt?.tags['http.status_code'], '200')
      assert.equal(span.name, 'echo.upstream.test:80/*')
      assert.equal(span.serviceName, 'portcullis')
      assert.equal(span.tags['http.method'], 'GET')
      assert.match(span.tags['http.url'] ?? '', /^http:\/\/127\.0\.0\.1:\d+\/get\?x=1$/)
      assert.equal(span.tags['http.status_code'], '200')
      assert.equal(span.tags['upstream_cluster'], 'outbound|80||echo.upstream.test')
      assert.equal(span.tags['response_flags'], '-')
      assert.equal(span.tags['guid:x-request-id'], 'req-w3c')
      assert.equal(span.tags['component'], 'proxy')
      assert.equal(span.tags['istio.canonical_service'], 'portcullis')
      assert.match(span.tags['node_id'] ?? '', /^router~/)
      assert.equal(span.tags['request_size'], '0')
      assert.ok(Number(span.tags['response_size']) > 0)
      assert.equal(span.tags['team'], 'edge')
      assert.equal(span.tags['tenant'], 'acme')
    }
  })

  test('B3 multi headers and the b3 single header are continued', async () => {
    const multi = `${TRACE.slice(0, 30)}02`
    await request(`${base}/multi`, {
      headers: { 'x-b3-traceid': multi, 'x-b3-spanid': PARENT, 'x-b3-sampled': '1' },
    })
    const single = `${TRACE.slice(0, 30)}03`
    await request(`${base}/single`, { headers: { b3: `${single}-${PARENT}-1` } })
    for (const trace of [multi, single]) {
      const seen = upstream.requests.find((r) => r.headers['x-b3-traceid'] === trace)
      assert.ok(seen, `the upstream got trace ${trace}`)
      assert.equal(parseTraceparent(seen.headers['traceparent']).traceId, trace)
      assert.equal(seen.headers['b3'], undefined, 'the client b3 header gives way to the span')
      await waitUntil(
        () => spanOf(otlp, trace) !== undefined && spanOf(zipkin, trace) !== undefined,
      )
      assert.equal(spanOf(otlp, trace)!.parentId, PARENT)
      assert.equal(spanOf(zipkin, trace)!.parentId, PARENT)
      assert.equal(spanOf(otlp, trace)!.tags['tenant'], 'none')
    }
  })

  test('an unsampled parent: context propagated with sampled=0, nothing exported', async () => {
    const trace = `${TRACE.slice(0, 30)}04`
    const res = await request(`${base}/quiet`, {
      headers: { traceparent: `00-${trace}-${PARENT}-00` },
    })
    assert.equal(res.status, 200)
    const seen = upstream.requests.at(-1)!
    const up = parseTraceparent(seen.headers['traceparent'])
    assert.equal(up.traceId, trace)
    assert.equal(up.sampled, false)
    assert.equal(seen.headers['x-b3-sampled'], '0')
    // A sampled marker request sent after it is exported; by then the unsampled one would be too.
    const marker = `${TRACE.slice(0, 30)}05`
    await request(`${base}/marker`, { headers: { traceparent: `00-${marker}-${PARENT}-01` } })
    await waitUntil(
      () => spanOf(otlp, marker) !== undefined && spanOf(zipkin, marker) !== undefined,
    )
    assert.equal(spanOf(otlp, trace), undefined)
    assert.equal(spanOf(zipkin, trace), undefined)
  })

  test('10 % sampling of 2000 requests holds within 5 sigma, and exactly those are exported', async () => {
    const n = 2000
    const p = 0.1
    const before = otlp.spans.length
    upstream.reset()
    let next = 0
    const worker = async () => {
      while (next < n) {
        next++
        const res = await request(`${base}/sample`)
        assert.equal(res.status, 200)
      }
    }
    await Promise.all(Array.from({ length: 8 }, worker))
    const sampled = upstream.requests.filter(
      (r) => parseTraceparent(r.headers['traceparent']).sampled,
    ).length
    const sigma = Math.sqrt(n * p * (1 - p))
    assert.ok(
      Math.abs(sampled - n * p) <= 5 * sigma,
      `${sampled} of ${n} sampled, expected ${n * p} ± ${(5 * sigma).toFixed(1)}`,
    )
    // Each sampled request is its SERVER span and one CLIENT span for its one attempt.
    await waitUntil(() => otlp.spans.length - before >= 2 * sampled, 30_000)
    assert.equal(otlp.spans.length - before, 2 * sampled)
  })
})

describe('tracing: a collector that is down costs requests nothing; reload swaps the plan', () => {
  test('requests are 200 while spans are dropped and counted; after a reload they arrive', async (t) => {
    const upstream = await startUpstream({ name: 'echo' })
    const [gatewayPort, readinessPort, metricsPort, closed] = await freePorts(4)
    const base = `http://127.0.0.1:${gatewayPort!}`
    const docs = (otlpPort: number, zipkinPort: number) =>
      joinDocs(
        gatewayConfigDoc({
          readinessPort: readinessPort!,
          metricsPort: metricsPort!,
          accessLog: false,
          extraSpec: providersSpec(otlpPort, zipkinPort),
        }),
        proxyRouteDocs({ gatewayPort: gatewayPort!, upstreamPort: upstream.port }),
        telemetryDoc(100),
      )
    // Nothing listens on `closed`: every export is refused.
    const gw = await startGateway({ yaml: docs(closed!, closed!) })
    t.after(async () => {
      await gw.cleanup()
      await upstream.close()
    })
    for (let i = 0; i < 50; i++) assert.equal((await request(`${base}/down`)).status, 200)
    const dropped = async () => {
      const text = (await request(`http://127.0.0.1:${metricsPort!}/stats/prometheus`)).text
      const m = /^portcullis_tracing_spans_dropped_total\{reason="export_failed"\} (\d+)/m.exec(
        text,
      )
      return Number(m?.[1] ?? 0)
    }
    // 50 spans to each of two providers; all of them fail to export.
    await waitUntil(async () => (await dropped()) >= 100, 30_000)

    const otlp = await startOtlpReceiver()
    const zipkin = await startZipkinReceiver()
    t.after(async () => {
      await otlp.close()
      await zipkin.close()
    })
    const mark = gw.mark()
    await gw.writeConfig(docs(otlp.port, zipkin.port))
    gw.reload()
    await gw.waitForLine(/config (applied|reloaded)|"result":"applied"/i, 15_000, { since: mark })
    await waitUntil(async () => {
      await request(`${base}/up`)
      return otlp.spans.length > 0 && zipkin.spans.length > 0
    }, 30_000)
    assert.ok(otlp.spans.some((s) => s.kind === 'SERVER'))
    assert.ok(zipkin.spans.some((s) => s.kind === 'SERVER'))
  })
})

async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
