/** observe/tracing: the OpenTelemetry SDK behind the RequestTracer the request path calls. */
export {
  batchOptionsFromEnv,
  createTracing,
  DEFAULT_MAX_QUEUE_SIZE,
  type Tracing,
  type TracingOptions,
} from './tracing-source.js'
export { propagationFor, type Propagation } from './propagation.js'
export type { DropReason } from './bounded-processor.js'
export { NODE_ID } from './request-tracer.js'
