// The OTLP/HTTP exporter against a real receiver that decodes OTLP JSON: spans arrive with their
// ids, names and attributes over one kept-alive connection; a collector that refuses, or one
// that is not there or never answers, is a failed export with the reason, never a throw.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ExportResultCode, type ExportResult } from '@opentelemetry/core'
import { AlwaysOnSampler, BasicTracerProvider } from '@opentelemetry/sdk-trace-base'
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { startOtlpReceiver } from '../../../test/support/otlp-receiver.js'
import { startSilentCollector } from '../../../test/support/span-receiver.js'
import { OtlpHttpExporter } from './otlp-http-exporter.js'

/** Spans as the SDK ends them: collected by a processor that keeps them. */
function spans(n: number): ReadableSpan[] {
  const ended: ReadableSpan[] = []
  const provider = new BasicTracerProvider({
    sampler: new AlwaysOnSampler(),
    spanProcessors: [
      {
        onStart: () => undefined,
        onEnd: (s) => ended.push(s),
        forceFlush: () => Promise.resolve(),
        shutdown: () => Promise.resolve(),
      },
    ],
  })
  const tracer = provider.getTracer('test')
  for (let i = 0; i < n; i++) {
    const span = tracer.startSpan(`span ${i}`)
    span.setAttribute('http.status_code', '200')
    span.end()
  }
  return ended
}

function exportOnce(exporter: OtlpHttpExporter, batch: ReadableSpan[]): Promise<ExportResult> {
  return new Promise((resolve) => exporter.export(batch, resolve))
}

test('spans reach an OTLP/HTTP receiver as JSON, batch after batch on one connection', async (t) => {
  const receiver = await startOtlpReceiver()
  t.after(() => receiver.close())
  const exporter = new OtlpHttpExporter({
    url: `http://127.0.0.1:${receiver.port}/v1/traces`,
    timeoutMs: 5000,
    headers: { 'x-tenant': 'edge' },
  })
  t.after(() => exporter.shutdown())
  const first = spans(3)
  const second = spans(2)
  assert.equal((await exportOnce(exporter, first)).code, ExportResultCode.SUCCESS)
  assert.equal((await exportOnce(exporter, second)).code, ExportResultCode.SUCCESS)
  assert.equal(receiver.requests, 2)
  assert.deepEqual(
    receiver.spans.map((s) => [s.traceId, s.spanId, s.name, s.tags['http.status_code']]),
    [...first, ...second].map((s) => [
      s.spanContext().traceId,
      s.spanContext().spanId,
      s.name,
      '200',
    ]),
  )
})

test('a collector answering 503, or none listening: a failed export with the reason', async (t) => {
  const refusing = await startOtlpReceiver({ status: 503 })
  t.after(() => refusing.close())
  const toRefusing = new OtlpHttpExporter({
    url: `http://127.0.0.1:${refusing.port}/v1/traces`,
    timeoutMs: 5000,
    headers: {},
  })
  t.after(() => toRefusing.shutdown())
  const refused = await exportOnce(toRefusing, spans(1))
  assert.equal(refused.code, ExportResultCode.FAILED)
  assert.match(String(refused.error), /HTTP 503/)

  const gone = await startOtlpReceiver()
  const port = gone.port
  await gone.close()
  const toNobody = new OtlpHttpExporter({
    url: `http://127.0.0.1:${port}/v1/traces`,
    timeoutMs: 5000,
    headers: {},
  })
  t.after(() => toNobody.shutdown())
  const failed = await exportOnce(toNobody, spans(1))
  assert.equal(failed.code, ExportResultCode.FAILED)
  assert.match(String(failed.error), /ECONNREFUSED/)

  await toNobody.shutdown()
  const afterShutdown = await exportOnce(toNobody, spans(1))
  assert.equal(afterShutdown.code, ExportResultCode.FAILED)
  assert.match(String(afterShutdown.error), /shut down/)
})

test('a collector that never answers: the export fails at its deadline', async (t) => {
  const collector = await startSilentCollector()
  t.after(() => collector.close())
  const exporter = new OtlpHttpExporter({
    url: `http://127.0.0.1:${collector.port}/v1/traces`,
    timeoutMs: 300,
    headers: {},
  })
  t.after(() => exporter.shutdown())
  const result = await exportOnce(exporter, spans(1))
  assert.equal(result.code, ExportResultCode.FAILED)
  assert.match(String(result.error), /no answer from the collector within 300 ms/)
})
