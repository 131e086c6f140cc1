/**
 * The span of a request that arrived without (valid) trace context and was not sampled: most requests
 * at an edge gateway. It records nothing and never reaches the SDK, but its context is still
 * propagated (`sampled=0`), with the same headers OpenTelemetry's propagators write for an
 * unsampled span, so the services behind the gateway join the trace without sampling it.
 *
 * Ids come from a pool of random bytes refilled in blocks (one randomFillSync per 170 requests),
 * not from a generator per id: this path is what every unsampled request pays.
 */
import { randomFillSync } from 'node:crypto'
import type { RequestSpan } from '../events.js'

const POOL_BYTES = 4096
/** 16 bytes of trace id and 8 of span id per request. */
const ID_BYTES = 24
const pool = Buffer.allocUnsafe(POOL_BYTES)
let offset = POOL_BYTES

const ZERO_TRACE = '0'.repeat(32)
const ZERO_SPAN = '0'.repeat(16)

/** 48 hex digits, trace id then span id, cut from the pool. */
function takeHexIds(): string {
  if (offset + ID_BYTES > POOL_BYTES) {
    randomFillSync(pool)
    offset = 0
  }
  const hex = pool.toString('hex', offset, offset + ID_BYTES)
  offset += ID_BYTES
  return hex
}

export class UnsampledRootSpan implements RequestSpan {
  readonly traceId: string
  readonly spanId: string
  readonly clientSentContext: boolean

  /** `clientSentContext`: trace headers came that held no valid context (a root all the same). */
  constructor(clientSentContext: boolean) {
    this.clientSentContext = clientSentContext
    const hex = takeHexIds()
    const traceId = hex.slice(0, 32)
    const spanId = hex.slice(32)
    // An all-zero id is invalid (2^-64 per span id, 2^-128 per trace id): never send one.
    this.traceId = traceId === ZERO_TRACE ? '0'.repeat(31) + '1' : traceId
    this.spanId = spanId === ZERO_SPAN ? '0'.repeat(15) + '1' : spanId
  }

  /** W3C then B3 multi-header, as propagation.ts's injector writes them for an unsampled span. */
  inject(headers: string[]): void {
    headers.push(
      'traceparent',
      `00-${this.traceId}-${this.spanId}-00`,
      'x-b3-traceid',
      this.traceId,
      'x-b3-spanid',
      this.spanId,
      'x-b3-sampled',
      '0',
    )
  }

  startAttempt(): undefined {
    // An unsampled request records no attempt either; the upstream's parent is this context.
    return undefined
  }

  end(): void {
    // Nothing was recorded and nothing is exported.
  }
}
