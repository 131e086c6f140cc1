/**
 * The trace-context headers the gateway reads and writes, by format (W3C; B3 single and multi
 * header): an incoming value of one of a plan's formats is replaced upstream by the gateway
 * span's context.
 */
export const W3C_TRACE_HEADERS: readonly string[] = ['traceparent', 'tracestate']

export const B3_TRACE_HEADERS: readonly string[] = [
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
]

/** Every trace-context header of both formats. */
export const TRACE_CONTEXT_HEADERS: ReadonlySet<string> = new Set([
  ...W3C_TRACE_HEADERS,
  ...B3_TRACE_HEADERS,
])

/** The lower-case header names of `formats`. */
export function traceHeadersOf(formats: readonly ('w3c' | 'b3')[]): ReadonlySet<string> {
  return new Set(formats.flatMap((f) => (f === 'w3c' ? W3C_TRACE_HEADERS : B3_TRACE_HEADERS)))
}
