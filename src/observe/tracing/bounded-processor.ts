/**
 * A batch span processor with a bounded queue, one export in flight, and a deadline per export,
 * so that a slow or unreachable collector costs the request path one array push or one counted
 * drop, never memory or waiting. The SDK's BatchSpanProcessor drops silently when full (its
 * default queue of 2048 overflows under load); here every drop is counted by reason.
 */
import type { ReadableSpan, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base'
import { otelApi, otelCore } from './otel.js'

export type DropReason = 'queue_full' | 'export_failed'

export interface BoundedProcessorOptions {
  readonly maxQueueSize: number
  readonly maxBatchSize: number
  /** How long a span may wait for its batch to fill. */
  readonly delayMs: number
  /** An export that has not answered by then counts as failed; the queue moves on. */
  readonly exportTimeoutMs: number
  /** Exports past their deadline that may still be pending before batches are dropped. */
  readonly maxOverdueExports: number
  onDropped(reason: DropReason, spans: number): void
  onExported(spans: number): void
}

export class BoundedBatchProcessor implements SpanProcessor {
  readonly #exporter: SpanExporter
  readonly #opts: BoundedProcessorOptions
  #queue: ReadableSpan[] = []
  #timer: NodeJS.Timeout | undefined = undefined
  #inFlight = false
  #overdue = 0
  #idle: (() => void)[] = []

  constructor(exporter: SpanExporter, opts: BoundedProcessorOptions) {
    this.#exporter = exporter
    this.#opts = opts
  }

  onStart(): void {
    // Spans are only read once they end.
  }

  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & otelApi().TraceFlags.SAMPLED) === 0) return
    if (this.#queue.length >= this.#opts.maxQueueSize) {
      this.#opts.onDropped('queue_full', 1)
      return
    }
    this.#queue.push(span)
    if (this.#queue.length >= this.#opts.maxBatchSize) this.#exportNext()
    else if (this.#timer === undefined && !this.#inFlight) {
      this.#timer = setTimeout(BoundedBatchProcessor.#onTimer, this.#opts.delayMs, this)
      this.#timer.unref()
    }
  }

  /** Resolves once everything queued so far has been exported (or given up on). */
  forceFlush(): Promise<void> {
    if (this.#queue.length === 0 && !this.#inFlight) return Promise.resolve()
    return new Promise((resolve) => {
      this.#idle.push(resolve)
      this.#exportNext()
    })
  }

  async shutdown(): Promise<void> {
    await this.forceFlush()
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    await this.#exporter.shutdown()
  }

  static #onTimer(self: BoundedBatchProcessor): void {
    self.#timer = undefined
    self.#exportNext()
  }

  #exportNext(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    if (this.#inFlight) return
    if (this.#queue.length === 0) {
      for (const resolve of this.#idle.splice(0)) resolve()
      return
    }
    const batch = this.#queue.splice(0, this.#opts.maxBatchSize)
    if (this.#overdue >= this.#opts.maxOverdueExports) {
      // The collector swallows requests without answering: stop adding to them.
      this.#opts.onDropped('export_failed', batch.length)
      this.#exportNext()
      return
    }
    this.#inFlight = true
    let settled = false
    const deadline = setTimeout(() => {
      if (settled) return
      settled = true
      this.#overdue++
      this.#finish(batch.length, false)
    }, this.#opts.exportTimeoutMs)
    deadline.unref()
    this.#exporter.export(batch, (result) => {
      if (settled) {
        this.#overdue--
        return
      }
      settled = true
      clearTimeout(deadline)
      this.#finish(batch.length, result.code === otelCore().ExportResultCode.SUCCESS)
    })
  }

  #finish(spans: number, ok: boolean): void {
    this.#inFlight = false
    if (ok) this.#opts.onExported(spans)
    else this.#opts.onDropped('export_failed', spans)
    if (this.#queue.length >= this.#opts.maxBatchSize || this.#idle.length > 0) this.#exportNext()
    else if (this.#queue.length > 0 && this.#timer === undefined) {
      this.#timer = setTimeout(BoundedBatchProcessor.#onTimer, this.#opts.delayMs, this)
      this.#timer.unref()
    }
  }
}
