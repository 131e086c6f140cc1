/**
 * OTLP/HTTP with JSON bodies, sent through undici's Pool: the bodies are OpenTelemetry's own
 * (`JsonTraceSerializer`, what `@opentelemetry/exporter-trace-otlp-http` sends), the transport is
 * the one the gateway's upstream requests already use. The SDK's exporter sends through
 * `node:http`, whose requests and responses, with other object shapes than the gateway's
 * downstream ones, turned the property loads of the `node:http` and stream code every request
 * runs megamorphic: about 3 000 instructions more on every request once spans were exported
 * (docs/performance.md). One connection, kept alive; an export is one POST with a deadline,
 * answered through undici's dispatch handler as the upstream requests are (no stream for the
 * answer's body, which is read and dropped). Retries are not made here: the batch processor
 * counts a failed export and moves on.
 */
import { createRequire } from 'node:module'
import type { ExportResult } from '@opentelemetry/core'
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base'
import type * as Undici from 'undici'
import { otelCore, otlpTransformer } from './otel.js'

// The same file dataplane/upstream/undici.ts loads, so the same class (and object shapes) as the
// upstream pools, without undici's index (fetch, WebSocket, …).
const Pool = createRequire(import.meta.url)('undici/lib/dispatcher/pool.js') as typeof Undici.Pool

export interface OtlpHttpExporterOptions {
  /** `http://host:port/path`. */
  readonly url: string
  readonly timeoutMs: number
  readonly headers: Readonly<Record<string, string>>
}

export class OtlpHttpExporter implements SpanExporter {
  readonly #pool: Undici.Pool
  readonly #path: string
  readonly #headers: Record<string, string>
  readonly #timeoutMs: number
  readonly #sending = new Set<Promise<void>>()
  #closed: Promise<void> | undefined = undefined

  constructor(opts: OtlpHttpExporterOptions) {
    const url = new URL(opts.url)
    this.#path = url.pathname + url.search
    this.#headers = { ...opts.headers, 'content-type': 'application/json' }
    this.#timeoutMs = opts.timeoutMs
    this.#pool = new Pool(url.origin, {
      connections: 1,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    })
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    const { ExportResultCode } = otelCore()
    const failed = (error: Error): void => done({ code: ExportResultCode.FAILED, error })
    if (this.#closed !== undefined) {
      failed(new Error('the exporter is shut down'))
      return
    }
    const body = otlpTransformer().JsonTraceSerializer.serializeRequest(spans)
    if (body === undefined) {
      failed(new Error('the spans could not be serialized'))
      return
    }
    const sent = new Promise<void>((resolve) => {
      const answer = new ExportAnswer(this.#timeoutMs, (error) => {
        if (error === undefined) done({ code: ExportResultCode.SUCCESS })
        else failed(error)
        resolve()
      })
      this.#pool.dispatch(
        { method: 'POST', path: this.#path, headers: this.#headers, body },
        answer,
      )
    })
    this.#sending.add(sent)
    void sent.then(() => this.#sending.delete(sent))
  }

  async forceFlush(): Promise<void> {
    await Promise.all([...this.#sending])
  }

  /** Waits for the exports under way, then closes the connection; once, however often called. */
  shutdown(): Promise<void> {
    this.#closed ??= this.forceFlush().then(() => this.#pool.close())
    return this.#closed
  }
}

/**
 * undici's dispatch handler for one export, in the form the upstream exchanges use: the answer's
 * status decides, its body is read and dropped; no answer within the deadline aborts it.
 */
class ExportAnswer {
  readonly #finish: (error: Error | undefined) => void
  #timer: NodeJS.Timeout | undefined
  #abort: ((err?: Error) => void) | undefined = undefined
  #status = 0

  constructor(timeoutMs: number, finish: (error: Error | undefined) => void) {
    this.#finish = finish
    this.#timer = setTimeout(() => {
      const err = new Error(`no answer from the collector within ${timeoutMs} ms`)
      this.#end(err)
      this.#abort?.(err)
    }, timeoutMs)
    this.#timer.unref()
  }

  /** Once, whichever of the answer, an error or the deadline comes first. */
  #end(error: Error | undefined): void {
    if (this.#timer === undefined) return
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#finish(error)
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort
  }

  onHeaders(status: number): boolean {
    this.#status = status
    return true
  }

  onData(): boolean {
    return true
  }

  onComplete(): void {
    const status = this.#status
    this.#end(
      status >= 200 && status < 300
        ? undefined
        : new Error(`the collector answered HTTP ${status}`),
    )
  }

  onError(err: Error): void {
    this.#end(err)
  }
}
