/**
 * Wires data-plane events to metrics and the access log. This is what the composition root
 * builds once and hands to the data plane (RequestObserver) and the runtime (ReloadObserver).
 */
import { createAcmeMetrics, type AcmeObserver } from './acme-metrics.js'
import { createTracingMetrics, type TracingMetrics } from './tracing-metrics.js'
import type {
  ConnectionObserver,
  ConnectionRecord,
  EgressObserver,
  LimitObserver,
  ReloadObserver,
  RequestObserver,
  RequestRecord,
} from './events.js'
import { createConnectionMetrics } from './connection-metrics.js'
import { createEgressMetrics } from './egress-metrics.js'
import { createEgressObservations, type EgressObservationReader } from './egress-observations.js'
import { createLimitMetrics } from './limit-metrics.js'
import {
  compileAccessLogFormat,
  type AccessLogEncoding,
  type AccessLogFormatter,
} from './access-log-format.js'
import { createAccessLogWriter, type AccessLogWriter } from './access-log-writer.js'
import { gatewayIdentity } from './istio-labels.js'
import { createGatewayMetrics, type GatewayMetrics, type ReloadResult } from './metrics.js'

/** Same shape as the GatewayConfig access-log settings (ir.AccessLogSettings). */
export interface AccessLogOptions {
  readonly disabled: boolean
  readonly path: string
  readonly format: string
  readonly encoding: AccessLogEncoding
}

export interface ObserversOptions {
  readonly accessLog: AccessLogOptions
  /** Node process metrics; default true. */
  readonly processMetrics?: boolean
  /**
   * This instance's labels (GatewayConfig `labels`): the gateway's identity in the istio_*
   * metrics (istio-labels.ts). Read once: a reload does not rename existing series.
   */
  readonly labels?: Readonly<Record<string, string>>
  /** The version istio_build reports. */
  readonly buildTag?: string
}

export interface Observers {
  readonly request: RequestObserver
  readonly reload: ReloadObserver
  readonly limits: LimitObserver
  /** Downstream connections closed by an error, and failed TLS handshakes. */
  readonly connections: ConnectionObserver
  /** ACME orders and installed certificates' expiry. */
  readonly acme: AcmeObserver
  /** Spans exported and dropped (portcullis_tracing_spans_*). */
  readonly tracing: TracingMetrics
  /** Egress decisions in; the recent denied and observed destinations out (admin API). */
  readonly egress: EgressObserver & EgressObservationReader
  metricsText(): Promise<string>
  readonly metricsContentType: string
  /** Writes out buffered access-log lines. */
  flush(): Promise<void>
  /** Flushes and closes the access log; call once on shutdown. */
  close(): Promise<void>
  /** Reopens the access-log file (SIGUSR1 after logrotate, as with nginx). */
  reopenLogs(): void
}

/**
 * Throws when the access-log format does not compile or the log file cannot be opened: both
 * are startup errors. Config validation reports format errors earlier through
 * compileAccessLogFormat, so a validated config never reaches the throw.
 */
export function createObservers(options: ObserversOptions): Observers {
  const { accessLog } = options
  let writer: AccessLogWriter | undefined
  let formatter: AccessLogFormatter | undefined
  if (!accessLog.disabled) {
    const compiled = compileAccessLogFormat(accessLog.format, accessLog.encoding)
    if (!compiled.ok) throw new Error(`invalid access-log format: ${compiled.error}`)
    formatter = compiled.formatter
    writer = createAccessLogWriter({ path: accessLog.path })
  }
  const logWriter = writer
  const metrics = createGatewayMetrics({
    droppedAccessLogLines: () => logWriter?.droppedLines ?? 0,
    processMetrics: options.processMetrics ?? true,
    identity: gatewayIdentity(options.labels),
    ...(options.buildTag === undefined ? {} : { buildTag: options.buildTag }),
  })
  const request =
    logWriter === undefined || formatter === undefined
      ? new MetricsObserver(metrics)
      : new LoggingObserver(metrics, formatter, logWriter)

  const egressMetrics = createEgressMetrics(metrics.registry)
  const egressSeen = createEgressObservations()

  return {
    request,
    egress: {
      onEgressDecision(event) {
        egressMetrics.record(event)
        egressSeen.record(event)
      },
      list: (kind) => egressSeen.list(kind),
    },
    reload: {
      onReload: (result: ReloadResult, version: number) => metrics.recordReload(result, version),
    },
    limits: createLimitMetrics(metrics.registry),
    connections: createConnectionMetrics(metrics.registry),
    acme: createAcmeMetrics(metrics.registry),
    tracing: createTracingMetrics(metrics.registry),
    metricsText: () => metrics.text(),
    metricsContentType: metrics.contentType,
    flush: () => logWriter?.flush() ?? Promise.resolve(),
    close: () => logWriter?.close() ?? Promise.resolve(),
    reopenLogs() {
      void logWriter?.reopen()
    },
  }
}

/** With the access log disabled nothing is formatted: the request path only counts. */
class MetricsObserver implements RequestObserver {
  constructor(private readonly metrics: GatewayMetrics) {}

  onRequestComplete(record: RequestRecord): void {
    this.metrics.recordRequest(record)
  }

  onConnectionOpen(record: ConnectionRecord): void {
    this.metrics.recordConnectionOpen(record)
  }

  onConnectionComplete(record: ConnectionRecord): void {
    this.metrics.recordConnectionClose(record)
  }
}

class LoggingObserver implements RequestObserver {
  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly format: AccessLogFormatter,
    private readonly writer: AccessLogWriter,
  ) {}

  onRequestComplete(record: RequestRecord): void {
    this.metrics.recordRequest(record)
    this.writer.write(this.format(record))
  }

  onConnectionOpen(record: ConnectionRecord): void {
    this.metrics.recordConnectionOpen(record)
  }

  /** Envoy's TCP proxy writes one line per connection, at close, in the same format. */
  onConnectionComplete(record: ConnectionRecord): void {
    this.metrics.recordConnectionClose(record)
    this.writer.write(this.format(record))
  }
}
