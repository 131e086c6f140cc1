/** observe/: data-plane events in, Prometheus metrics and access logs out. */
export type {
  ConnectionObserver,
  ConnectionRecord,
  EgressArrival,
  EgressEvent,
  EgressObserver,
  LimitObserver,
  RateLimitOutcome,
  ReloadObserver,
  RequestObserver,
  RequestRecord,
  ResponseFlag,
} from './events.js'
export {
  createObservers,
  type AccessLogOptions,
  type Observers,
  type ObserversOptions,
} from './observers.js'
export {
  compileAccessLogFormat,
  DEFAULT_ACCESS_LOG_FORMAT,
  DEFAULT_JSON_ACCESS_LOG_FIELDS,
  type AccessLogEncoding,
  type AccessLogFormatter,
  type CompiledAccessLogFormat,
} from './access-log-format.js'
export { SUPPORTED_OPERATORS } from './access-log-operators.js'
export {
  createAccessLogWriter,
  type AccessLogWriter,
  type AccessLogWriterOptions,
} from './access-log-writer.js'
export {
  createGatewayMetrics,
  type GatewayMetrics,
  type GatewayMetricsOptions,
  type ReloadResult,
} from './metrics.js'
export { DURATION_BUCKETS_MS, SIZE_BUCKETS_BYTES } from './request-metrics.js'
export {
  createEgressObservations,
  guessProtocol,
  type EgressObservation,
  type EgressObservationKind,
  type EgressObservationReader,
  type EgressObservations,
  type EgressProtocolGuess,
} from './egress-observations.js'
export type { AcmeObserver, AcmeOrderResult } from './acme-metrics.js'
export {
  batchOptionsFromEnv,
  createTracing,
  type Tracing,
  type TracingOptions,
} from './tracing/index.js'
export { createTracingMetrics, type TracingMetrics } from './tracing-metrics.js'
