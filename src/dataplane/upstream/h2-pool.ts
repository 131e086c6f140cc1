import { connect as h2Connect } from 'node:http2'
import type { ClientHttp2Session } from 'node:http2'
import { connect as netConnect } from 'node:net'
import type { Socket } from 'node:net'
import type { Readable } from 'node:stream'
import { connect as tlsConnect } from 'node:tls'
import { errors as undiciErrors } from './undici.js'
import { toH2RequestHeaders } from './h2-headers.js'
import {
  abortStream,
  onStreamClose,
  onStreamData,
  onStreamEnd,
  onStreamError,
  onStreamResponse,
  onStreamTimeout,
  onStreamTrailers,
  STATE,
} from './h2-stream.js'
import type { H2DispatchHandler, StateStream, StreamSession, StreamState } from './h2-stream.js'
import type { UpstreamTls } from './upstream-tls.js'

/** What one request asks of the pool: the same fields undici's dispatch reads. */
export interface H2DispatchOptions {
  readonly method: string
  readonly path: string
  /** Flat [name, value, ...] list with `host`; connection-specific names are dropped here. */
  readonly headers: readonly string[]
  readonly body: Buffer | Readable | null
  readonly headersTimeout: number
  readonly bodyTimeout: number
}

export type { H2DispatchHandler } from './h2-stream.js'
export { isRefusedStream, REFUSED_STREAM_CODE } from './h2-stream.js'

export interface H2PoolOptions {
  readonly ip: string
  readonly port: number
  readonly connectTimeoutMs: number
  /** Sessions per endpoint (connectionPool.tcp.maxConnections). */
  readonly maxSessions: number
  /** Streams per session before another one is opened; the peer's SETTINGS can lower it. */
  readonly maxConcurrentStreams: number | undefined
  /** A session without streams for this long is closed. */
  readonly idleTimeoutMs: number
  readonly keepaliveTimeMs?: number
  readonly maxHeaderBytes: number
  readonly tls?: UpstreamTls
}

interface PooledSession extends StreamSession {
  readonly pool: H2Pool
  readonly session: ClientHttp2Session
  /** Streams started or waiting for the session to connect. */
  streams: number
  connected: boolean
  /** No new streams: GOAWAY, an error, or the pool is closing. */
  retired: boolean
  error: Error | undefined
  pending: [H2DispatchOptions, H2DispatchHandler][] | undefined
  timer: NodeJS.Timeout | undefined
}

const SESSION: unique symbol = Symbol('portcullis.h2-session')

type PoolSession = ClientHttp2Session & { [SESSION]?: PooledSession }

/**
 * HTTP/2 sessions to one endpoint: h2c with prior knowledge, or h2 over TLS (ALPN `h2`) with the
 * cluster's origination settings. A session takes streams until it has `maxConcurrentStreams`
 * (or the peer's limit) in flight, then another one is opened, up to `maxSessions`; beyond that
 * the least busy session takes the stream and nghttp2 queues it. Sessions that receive GOAWAY,
 * fail or close are dropped; idle ones close after `idleTimeoutMs`.
 */
export class H2Pool {
  readonly #o: H2PoolOptions
  readonly #authority: string
  readonly #scheme: 'http' | 'https'
  #sessions: PooledSession[] = []
  #closed = false

  constructor(o: H2PoolOptions) {
    this.#o = o
    this.#scheme = o.tls !== undefined ? 'https' : 'http'
    // endpoint.ts imports this module; its endpointAddress would make a cycle.
    const host = o.ip.includes(':') ? `[${o.ip}]` : o.ip
    this.#authority = `${this.#scheme}://${host}:${o.port}`
  }

  /** Sessions that take new streams (tests and stats). */
  get sessionCount(): number {
    return this.#sessions.length
  }

  dispatch(o: H2DispatchOptions, handler: H2DispatchHandler): boolean {
    if (this.#closed) {
      handler.onError(new undiciErrors.ClientDestroyedError())
      return false
    }
    const ps = this.#pick()
    ps.streams++
    if (ps.timer !== undefined) {
      clearTimeout(ps.timer)
      ps.timer = undefined
    }
    if (ps.connected) this.#start(ps, o, handler)
    else (ps.pending ??= []).push([o, handler])
    return true
  }

  /** Stops new streams; sessions close once their streams have finished. */
  close(): Promise<void> {
    this.#closed = true
    const all = this.#sessions
    this.#sessions = []
    for (const ps of all) {
      ps.retired = true
      if (ps.streams === 0) ps.session.close()
    }
    return Promise.resolve()
  }

  destroy(): Promise<void> {
    this.#closed = true
    const all = this.#sessions
    this.#sessions = []
    for (const ps of all) ps.session.destroy()
    return Promise.resolve()
  }

  #pick(): PooledSession {
    const sessions = this.#sessions
    const own = this.#o.maxConcurrentStreams
    let least: PooledSession | undefined
    for (const ps of sessions) {
      let limit = own ?? Infinity
      if (ps.connected) {
        const peer = ps.session.remoteSettings.maxConcurrentStreams
        if (peer !== undefined && peer < limit) limit = peer
      }
      if (ps.streams < limit) return ps
      if (least === undefined || ps.streams < least.streams) least = ps
    }
    if (least !== undefined && sessions.length >= this.#o.maxSessions) return least
    return this.#open()
  }

  #open(): PooledSession {
    const o = this.#o
    const session = h2Connect(this.#authority, {
      settings: { enablePush: false, maxHeaderListSize: o.maxHeaderBytes },
      createConnection: () => this.#socket(),
    }) as PoolSession
    const ps: PooledSession = {
      pool: this,
      session,
      streams: 0,
      connected: false,
      retired: false,
      error: undefined,
      pending: undefined,
      timer: undefined,
    }
    ps.timer = setTimeout(onConnectTimeout, o.connectTimeoutMs, ps)
    session[SESSION] = ps
    session.once('connect', onSessionConnect)
    session.on('error', onSessionError)
    session.once('goaway', onSessionGoaway)
    session.once('close', onSessionClose)
    this.#sessions.push(ps)
    return ps
  }

  #socket(): Socket {
    const o = this.#o
    const tls = o.tls
    const socket =
      tls === undefined
        ? netConnect({ host: o.ip, port: o.port })
        : tlsConnect({
            host: o.ip,
            port: o.port,
            ...tls.connect,
            ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
            ALPNProtocols: tls.h2Alpn !== undefined ? [...tls.h2Alpn] : ['h2'],
          })
    if (o.keepaliveTimeMs !== undefined) socket.setKeepAlive(true, o.keepaliveTimeMs)
    return socket
  }

  /** Removes a session from the ones that take new streams. */
  retire(ps: PooledSession): void {
    if (ps.retired) return
    ps.retired = true
    const i = this.#sessions.indexOf(ps)
    if (i >= 0) this.#sessions.splice(i, 1)
  }

  /** A stream of `ps` ended: an idle session waits for more, a retired one closes. */
  streamEnded(ps: PooledSession): void {
    if (--ps.streams > 0) return
    if (ps.retired) {
      if (!ps.session.closed && !ps.session.destroyed) ps.session.close()
      return
    }
    const idle = this.#o.idleTimeoutMs
    ps.timer = setTimeout(onIdleTimeout, idle, ps)
    ps.timer.unref()
  }

  connected(ps: PooledSession): void {
    if (ps.timer !== undefined) clearTimeout(ps.timer)
    ps.timer = undefined
    ps.connected = true
    const pending = ps.pending
    ps.pending = undefined
    if (pending !== undefined) for (const [o, h] of pending) this.#start(ps, o, h)
  }

  /** The session went away before it connected: every stream waiting on it fails. */
  failPending(ps: PooledSession, err: Error): void {
    const pending = ps.pending
    ps.pending = undefined
    if (pending === undefined) return
    for (const [, h] of pending) {
      ps.streams--
      h.onError(err)
    }
  }

  #start(ps: PooledSession, o: H2DispatchOptions, handler: H2DispatchHandler): void {
    let stream: StateStream
    try {
      const headers = toH2RequestHeaders(o.method, o.path, this.#scheme, o.headers)
      stream = ps.session.request(headers, { endStream: o.body === null })
    } catch (err) {
      this.streamEnded(ps)
      handler.onError(requestError(err))
      return
    }
    const state: StreamState = {
      ps,
      handler,
      bodyTimeout: o.bodyTimeout,
      headersSeen: false,
      done: false,
      trailers: null,
      error: undefined,
      streamError: undefined,
      body: undefined,
      onBodyData: undefined,
    }
    stream[STATE] = state
    stream.on('response', onStreamResponse)
    stream.on('data', onStreamData)
    stream.on('trailers', onStreamTrailers)
    stream.once('end', onStreamEnd)
    stream.on('error', onStreamError)
    stream.once('close', onStreamClose)
    stream.once('timeout', onStreamTimeout)
    if (o.headersTimeout > 0) stream.setTimeout(o.headersTimeout)
    handler.onConnect((err) => abortStream(stream, err))
    const body = o.body
    if (body === null || stream.destroyed) return
    if (Buffer.isBuffer(body)) {
      stream.end(body)
      handler.onBodySent(body)
      return
    }
    state.body = body
    state.onBodyData = (chunk: Buffer) => handler.onBodySent(chunk)
    body.on('data', state.onBodyData)
    // pipe() pauses the body while the stream's flow-control window is full.
    body.pipe(stream)
  }
}

function requestError(err: unknown): Error {
  const code = (err as { code?: unknown } | null)?.code
  // A session that is closing is a connection problem; anything else is a request we cannot send.
  if (code === 'ERR_HTTP2_GOAWAY_SESSION' || code === 'ERR_HTTP2_INVALID_SESSION') {
    return err as Error
  }
  return new undiciErrors.InvalidArgumentError(err instanceof Error ? err.message : String(err))
}

function onConnectTimeout(ps: PooledSession): void {
  ps.timer = undefined
  if (ps.connected) return
  ps.session.destroy(new undiciErrors.ConnectTimeoutError())
}

function onIdleTimeout(ps: PooledSession): void {
  ps.timer = undefined
  if (ps.streams > 0) return
  // retire() (not just the flag): the session must leave the pool's list, or the next stream
  // would be started on the closed session and fail.
  ps.pool.retire(ps)
  ps.session.close()
}

function onSessionConnect(this: PoolSession): void {
  const ps = this[SESSION]
  if (ps === undefined) return
  ps.pool.connected(ps)
}

function onSessionError(this: PoolSession, err: Error): void {
  const ps = this[SESSION]
  if (ps === undefined) return
  ps.error ??= err
}

function onSessionGoaway(this: PoolSession): void {
  const ps = this[SESSION]
  if (ps !== undefined) ps.pool.retire(ps)
}

function onSessionClose(this: PoolSession): void {
  const ps = this[SESSION]
  if (ps === undefined) return
  if (ps.timer !== undefined) clearTimeout(ps.timer)
  ps.timer = undefined
  ps.pool.retire(ps)
  ps.pool.failPending(ps, ps.error ?? new undiciErrors.SocketError('upstream session closed'))
}
