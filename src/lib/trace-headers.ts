/**
 * The trace-context headers the gateway reads and writes (W3C and B3, single and multi header):
 * an incoming value of any of them is replaced upstream by the gateway span's context.
 */
export const TRACE_CONTEXT_HEADERS: ReadonlySet<string> = new Set([
  'traceparent',
  'tracestate',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
])
