// The export queue is bounded and never makes span.end() wait: against a collector that accepts
// connections and never answers, spans beyond the queue are dropped and counted (queue_full),
// an export past its deadline counts its batch as export_failed, and after the allowed number
// of unanswered exports whole batches are dropped instead of sent.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AlwaysOnSampler, BasicTracerProvider } from '@opentelemetry/sdk-trace-base'
import { startSilentCollector } from '../../../test/support/span-receiver.js'
import { BoundedBatchProcessor, type DropReason } from './bounded-processor.js'
import { OtlpHttpExporter } from './otlp-http-exporter.js'

test('a silent collector: bounded queue, deadlines, drops counted by reason', async (t) => {
  const collector = await startSilentCollector()
  t.after(() => collector.close())
  const { port, held } = collector
  const drops: Record<DropReason, number> = { queue_full: 0, export_failed: 0 }
  let exported = 0
  const exporter = new OtlpHttpExporter({
    url: `http://127.0.0.1:${port}/v1/traces`,
    timeoutMs: 60_000,
    headers: {},
  })
  t.after(() => exporter.shutdown())
  const processor = new BoundedBatchProcessor(exporter, {
    maxQueueSize: 10,
    maxBatchSize: 5,
    delayMs: 10,
    exportTimeoutMs: 100,
    maxOverdueExports: 1,
    onDropped: (reason, n) => (drops[reason] += n),
    onExported: (n) => (exported += n),
  })
  const provider = new BasicTracerProvider({
    sampler: new AlwaysOnSampler(),
    spanProcessors: [processor],
  })
  const tracer = provider.getTracer('test')

  // 5 spans fill a batch and go out at once (in flight, unanswered); 10 more fill the queue; 5
  // more do not fit. None of these calls waits for the collector: they return before it has
  // seen a single export request.
  for (let i = 0; i < 20; i++) tracer.startSpan(`s${i}`).end()
  assert.equal(drops.queue_full, 5)
  assert.equal(held.length, 0, 'span.end() returned before any export reached the collector')

  // The first export passes its deadline (export_failed, 5); it stays unanswered, so with one
  // overdue export allowed the two batches still queued are dropped without being sent.
  // The one export sent may reach the collector after its deadline on a busy machine: wait
  // for both.
  const deadline = Date.now() + 10_000
  while ((drops.export_failed < 15 || held.length === 0) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  assert.equal(drops.export_failed, 15)
  assert.equal(exported, 0)
  assert.equal(held.length, 1, 'one export reached the collector; nothing piled up behind it')
})
