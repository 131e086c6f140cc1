/**
 * The span of a request that arrived without (valid) trace context and was not sampled: most
 * requests at an edge gateway. It records nothing and never reaches the SDK, but its context is
 * still propagated (`sampled=0`), with the headers OpenTelemetry's propagators write for an
 * unsampled span in the plan's formats, so the services behind the gateway join the trace
 * without sampling it.
 *
 * This path is what every unsampled request pays, so its ids are made in blocks: one
 * randomFillSync and one string per 128 requests. The block's string is the requests'
 * `traceparent` values one after another (`00-<trace id>-<span id>-00`, four hex digits written
 * per two bytes from a table); a request's header values are slices of it, which V8 keeps as a
 * pointer into the block's string. A request then makes no call into C++ for its ids and
 * concatenates nothing, and undici's checks read the slices as they are (a concatenated value
 * had to be flattened first).
 */
import { randomFillSync } from 'node:crypto'
import type * as ir from '../../ir/index.js'
import type { RequestSpan } from '../events.js'

const PER_BLOCK = 128
/** 16 bytes of trace id and 8 of span id per request. */
const ID_BYTES = 24
/** `00-` 32 hex digits `-` 16 hex digits `-00`. */
const TRACEPARENT_LENGTH = 55
const TRACE_ID_AT = 3
const SPAN_ID_AT = 36

const random = Buffer.allocUnsafe(PER_BLOCK * ID_BYTES)
const TEMPLATE = Buffer.from('00-' + '0'.repeat(32) + '-' + '0'.repeat(16) + '-00', 'latin1')
const chars = Buffer.alloc(PER_BLOCK * TRACEPARENT_LENGTH)
for (let s = 0; s < PER_BLOCK; s++) TEMPLATE.copy(chars, s * TRACEPARENT_LENGTH)
const HEX = Buffer.from('0123456789abcdef', 'latin1')

let block = ''
let next = PER_BLOCK

// DataViews, since the ids start at odd offsets, where typed arrays cannot store.
const view = new DataView(chars.buffer, chars.byteOffset, chars.byteLength)
const randomView = new DataView(random.buffer, random.byteOffset, random.byteLength)

/**
 * Four hex digits for each pair of bytes, in the order a little-endian 32-bit store writes them:
 * one load and one store per two bytes of id. Built at the first refill (256 KiB), so a gateway
 * that never traces does not hold it.
 */
let hexQuads: Uint32Array | undefined

function buildHexQuads(): Uint32Array {
  const quads = new Uint32Array(65536)
  for (let v = 0; v < 65536; v++) {
    quads[v] =
      HEX[v >> 12]! |
      (HEX[(v >> 8) & 15]! << 8) |
      (HEX[(v >> 4) & 15]! << 16) |
      (HEX[v & 15]! << 24)
  }
  return quads
}

function writeHex(quads: Uint32Array, from: number, to: number, at: number): void {
  for (let i = from; i < to; i += 2, at += 4) {
    view.setUint32(at, quads[randomView.getUint16(i)]!, true)
  }
}

function allZero(from: number, to: number): boolean {
  for (let i = from; i < to; i += 4) if (randomView.getUint32(i) !== 0) return false
  return true
}

function refill(): void {
  const quads = (hexQuads ??= buildHexQuads())
  randomFillSync(random)
  for (let s = 0; s < PER_BLOCK; s++) {
    const r = s * ID_BYTES
    // An all-zero id is invalid (2^-64 per span id, 2^-128 per trace id): never send one.
    if (allZero(r, r + 16)) random[r + 15] = 1
    if (allZero(r + 16, r + 24)) random[r + 23] = 1
    const t = s * TRACEPARENT_LENGTH
    writeHex(quads, r, r + 16, t + TRACE_ID_AT)
    writeHex(quads, r + 16, r + 24, t + SPAN_ID_AT)
  }
  block = chars.toString('latin1')
  next = 0
}

/** Which headers an unsampled root writes, from a plan's formats (unsampledWrites). */
export type UnsampledWrites = 'w3c' | 'b3' | 'w3c,b3' | 'b3,w3c'

export function unsampledWrites(formats: readonly ir.TraceContextFormat[]): UnsampledWrites {
  const key = formats.join(',')
  return key === 'w3c' || key === 'b3' || key === 'w3c,b3' || key === 'b3,w3c' ? key : 'w3c,b3'
}

export class UnsampledRootSpan implements RequestSpan {
  readonly clientSentContext: boolean
  /** This request's traceparent value in `#block`, from `#at`. */
  readonly #block: string
  readonly #at: number
  readonly #writes: UnsampledWrites

  /** `clientSentContext`: trace headers came that held no valid context (a root all the same). */
  constructor(clientSentContext: boolean, writes: UnsampledWrites) {
    this.clientSentContext = clientSentContext
    this.#writes = writes
    if (next === PER_BLOCK) refill()
    this.#block = block
    this.#at = next++ * TRACEPARENT_LENGTH
  }

  get traceId(): string {
    const at = this.#at + TRACE_ID_AT
    return this.#block.slice(at, at + 32)
  }

  get spanId(): string {
    const at = this.#at + SPAN_ID_AT
    return this.#block.slice(at, at + 16)
  }

  /** The plan's formats in its order, as propagation.ts's injector writes them unsampled. */
  inject(headers: string[]): void {
    switch (this.#writes) {
      case 'w3c':
        this.#w3c(headers)
        return
      case 'b3':
        this.#b3(headers)
        return
      case 'w3c,b3':
        this.#w3c(headers)
        this.#b3(headers)
        return
      case 'b3,w3c':
        this.#b3(headers)
        this.#w3c(headers)
    }
  }

  // Indexed stores, not push: a push of two values is a call into a builtin where the stores
  // are inlined.
  #w3c(headers: string[]): void {
    const at = this.#at
    const n = headers.length
    headers[n] = 'traceparent'
    headers[n + 1] = this.#block.slice(at, at + TRACEPARENT_LENGTH)
  }

  #b3(headers: string[]): void {
    const b = this.#block
    const at = this.#at
    const n = headers.length
    headers[n] = 'x-b3-traceid'
    headers[n + 1] = b.slice(at + TRACE_ID_AT, at + TRACE_ID_AT + 32)
    headers[n + 2] = 'x-b3-spanid'
    headers[n + 3] = b.slice(at + SPAN_ID_AT, at + SPAN_ID_AT + 16)
    headers[n + 4] = 'x-b3-sampled'
    headers[n + 5] = '0'
  }

  startAttempt(): undefined {
    // An unsampled request records no attempt either; the upstream's parent is this context.
    return undefined
  }

  end(): void {
    // Nothing was recorded and nothing is exported.
  }
}
