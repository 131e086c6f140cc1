/**
 * One HTTP/2 stream of the session pool (h2-pool.ts): its state, attached to the stream, and the
 * stream's event listeners, shared by every stream (no closures per stream), which drive the
 * dispatch handler the request path gave the pool.
 */
import { constants as h2 } from 'node:http2'
import type { ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2'
import type { Readable } from 'node:stream'
import { errors as undiciErrors } from './undici.js'

/** What the stream needs of its session. */
export interface StreamSession {
  readonly error: Error | undefined
  readonly pool: { streamEnded(ps: StreamSession): void }
}

/**
 * The handler contract of undici's dispatch, as far as the request path uses it, so one
 * exchange object drives either transport. onConnect comes once the stream is open (a connect
 * failure is an onError without it); trailers arrive with onComplete as a flat list.
 */
export interface H2DispatchHandler {
  onConnect(abort: (err?: Error) => void): void
  onHeaders(status: number, raw: string[], resume: () => void): boolean
  onData(chunk: Buffer): boolean
  onComplete(trailers: string[] | null): void
  onError(err: Error): void
  onBodySent(chunk: Buffer): void
}

/** An error code a stream reset by the upstream with REFUSED_STREAM carries. */
export const REFUSED_STREAM_CODE = 'ERR_HTTP2_REFUSED_STREAM'

/** The upstream refused the stream before processing it (RFC 9113 §8.7): safe to retry. */
export function isRefusedStream(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === REFUSED_STREAM_CODE
}

export const STATE: unique symbol = Symbol('portcullis.h2-stream')

export type StateStream = ClientHttp2Stream & { [STATE]?: StreamState }

export interface StreamState {
  /** The session the stream runs on (its error explains a bare reset). */
  readonly ps: StreamSession
  readonly handler: H2DispatchHandler
  readonly bodyTimeout: number
  headersSeen: boolean
  done: boolean
  trailers: string[] | null
  /** Set by the gateway (cancel, timeout): wins over whatever the stream reports. */
  error: Error | undefined
  streamError: Error | undefined
  body: Readable | undefined
  onBodyData: ((chunk: Buffer) => void) | undefined
}

const CANCELLED = new Error('stream cancelled by the gateway')

export function abortStream(stream: StateStream, err: Error | undefined): void {
  const state = stream[STATE]
  if (state === undefined || state.done) return
  state.error ??= err ?? CANCELLED
  if (!stream.destroyed) stream.close(h2.NGHTTP2_CANCEL)
}

export function onStreamResponse(
  this: StateStream,
  headers: IncomingHttpHeaders,
  _flags: number,
  rawHeaders?: string[],
): void {
  const state = this[STATE]
  if (state === undefined || state.done) return
  const status = Number(headers[':status'])
  state.headersSeen = true
  this.setTimeout(state.bodyTimeout)
  // rawHeaders keeps repeated names apart; pseudo-headers are not forwarded.
  const raw = rawHeaders ?? flatten(headers)
  const list: string[] = []
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.charCodeAt(0) !== 58 /* ':' */) list.push(raw[i]!, raw[i + 1]!)
  }
  if (!state.handler.onHeaders(status, list, resumeOf(this))) this.pause()
}

function resumeOf(stream: StateStream): () => void {
  return () => {
    if (!stream.destroyed) stream.resume()
  }
}

function flatten(headers: IncomingHttpHeaders): string[] {
  const out: string[] = []
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    if (Array.isArray(value)) for (const v of value) out.push(name, v)
    else out.push(name, value)
  }
  return out
}

export function onStreamData(this: StateStream, chunk: Buffer): void {
  const state = this[STATE]
  if (state === undefined || state.done) return
  if (!state.handler.onData(chunk)) this.pause()
}

export function onStreamTrailers(
  this: StateStream,
  trailers: IncomingHttpHeaders,
  _flags: number,
  rawTrailers?: string[],
): void {
  const state = this[STATE]
  if (state === undefined) return
  state.trailers = rawTrailers ?? flatten(trailers)
}

export function onStreamEnd(this: StateStream): void {
  const state = this[STATE]
  if (state === undefined || state.done || !state.headersSeen) return
  if (state.error !== undefined || state.streamError !== undefined) return
  // node ends the readable side of a reset stream too: only a stream closed without an error
  // code (or not closed yet) ended with END_STREAM.
  const code = this.rstCode
  if (code !== undefined && code !== h2.NGHTTP2_NO_ERROR) return
  state.done = true
  detachBody(state, this)
  state.handler.onComplete(state.trailers)
}

export function onStreamError(this: StateStream, err: Error): void {
  const state = this[STATE]
  if (state !== undefined) state.streamError ??= err
}

export function onStreamTimeout(this: StateStream): void {
  const state = this[STATE]
  if (state === undefined || state.done) return
  state.error ??= state.headersSeen
    ? new undiciErrors.BodyTimeoutError()
    : new undiciErrors.HeadersTimeoutError()
  this.close(h2.NGHTTP2_CANCEL)
}

export function onStreamClose(this: StateStream): void {
  const state = this[STATE]
  if (state === undefined) return
  state.ps.pool.streamEnded(state.ps)
  detachBody(state, this)
  if (state.done) return
  state.done = true
  state.handler.onError(state.error ?? resetError(this.rstCode, state))
}

function detachBody(state: StreamState, stream: StateStream): void {
  const body = state.body
  if (body === undefined) return
  state.body = undefined
  body.unpipe(stream)
  if (state.onBodyData !== undefined) body.off('data', state.onBodyData)
}

/** Why a stream closed without an error of its own: the code it was reset with. */
function resetError(code: number, state: StreamState): Error {
  if (code === h2.NGHTTP2_REFUSED_STREAM) {
    const err = new Error('upstream refused the stream') as Error & { code: string }
    err.code = REFUSED_STREAM_CODE
    return err
  }
  return (
    state.streamError ??
    state.ps.error ??
    new undiciErrors.SocketError(`upstream reset the stream (code ${code})`)
  )
}
