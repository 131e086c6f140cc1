/**
 * HTTP/2 on terminated TLS connections that negotiated h2: a node:http2 server that, like the
 * HTTP/1.1 one, never listens itself. Each stream is admitted exactly as an HTTP/1.1 request
 * (request-admission.ts) and handed to the same handler; session errors and abuse (rapid reset,
 * control-frame floods) close that connection only.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Http2ServerRequest, Http2ServerResponse, ServerHttp2Session } from 'node:http2'
import { createServer as createH2Server } from 'node:http2'
import type * as ir from '../../ir/index.js'
import { errorFields, peerFields } from './connection-errors.js'
import {
  bindToConnection,
  connectionOf,
  contain,
  containStream,
  destroyConnection,
  ignore,
  isLastRequest,
  trackResponse,
  type Connection,
  type ListenerState,
} from './connection-registry.js'
import {
  H2_ENHANCE_YOUR_CALM,
  sessionErrorReason,
  watchControlFlood,
  watchRapidReset,
} from './h2-abuse.js'
import { adaptH2Request } from './h2-request.js'
import { onHandlerThrow } from './http1-server.js'
import { describeRequest, recordRejection } from './local-reply.js'
import { admitRequest } from './request-admission.js'
import { parserHeadLimit } from './server-options.js'

/** HTTP/2 settings of hardening.md §1.3 (Envoy edge). */
const H2_MAX_CONCURRENT_STREAMS = 100
const H2_STREAM_WINDOW = 64 * 1024
const H2_CONNECTION_WINDOW = 1024 * 1024
/** An HTTP/2 session with no stream activity for this long gets GOAWAY. */
const H2_IDLE_TIMEOUT_MS = 300_000

export interface H2Listener {
  /** Serves HTTP/2 on a tracked, terminated connection that negotiated h2. */
  attach(conn: Connection): void
  close(): void
}

export function createH2Listener<P>(
  state: ListenerState<P>,
  limits: ir.DownstreamLimits,
): H2Listener {
  const server = createH2Server({
    settings: {
      enablePush: false,
      maxConcurrentStreams: H2_MAX_CONCURRENT_STREAMS,
      initialWindowSize: H2_STREAM_WINDOW,
      // As HTTP/1.1's parser limit: room for a long :path, so that it gets the shared check's
      // 414 (and too many header bytes its 431) instead of a client-side refusal.
      maxHeaderListSize: parserHeadLimit(limits),
    },
  })
  // 'session' is emitted synchronously inside emit('connection'): this is the connection it is for.
  let attaching: Connection | undefined
  server.on('session', (session: ServerHttp2Session) => {
    const conn = attaching
    if (conn === undefined) {
      session.destroy()
      return
    }
    conn.session = session
    bindToConnection(session, conn)
    session.on('error', (err: Error) => onSessionError(state, conn, err))
    session.setTimeout(H2_IDLE_TIMEOUT_MS, () => session.close())
    // Node emits 'connect' on the next tick even when the session is already gone: bytes that
    // are not HTTP/2 (a client that offered h2, then spoke HTTP/1.1) or a flood in the first read
    // destroy it first, and setLocalWindowSize would throw from the event loop.
    session.on('connect', () => {
      contain(state, conn.socket, 'h2 connect', () => {
        if (!session.destroyed) session.setLocalWindowSize(H2_CONNECTION_WINDOW)
      })
    })
    watchRapidReset(session, () => closeAbusiveSession(state, conn, session, 'h2_rapid_reset'))
    watchControlFlood(session, (reason) => closeAbusiveSession(state, conn, session, reason))
    if (state.draining) session.close()
  })
  // Reported per session above ('sessionError' repeats the session's 'error').
  server.on('sessionError', ignore)
  const onRequestEvent = (req: Http2ServerRequest, res: Http2ServerResponse): void => {
    // A stream the client reset in the same read as its HEADERS (rapid reset): nobody would
    // read the response, so no work is started for it.
    if (req.stream.closed) return
    containStream(state, req, () => onH2Request(state, req, res))
  }
  server.on('request', onRequestEvent)
  // Without a listener Node answers `Expect: 100-continue` itself before any check.
  server.on('checkContinue', onRequestEvent)
  return {
    attach(conn) {
      // A TLSSocket we created ourselves never leaves secureConnecting, and http2 would wait for
      // a 'secureConnect' that a server-side socket never emits.
      ;(conn.socket as { secureConnecting?: boolean }).secureConnecting = false
      attaching = conn
      try {
        server.emit('connection', conn.socket)
      } finally {
        attaching = undefined
      }
    },
    close() {
      server.close()
    },
  }
}

/**
 * An HTTP/2 stream: the same admission as an HTTP/1.1 request on a TLS connection, then the same
 * handler. Node's compatibility objects stand in for IncomingMessage/ServerResponse; the request
 * path reads only what both provide (headers, rawHeaders, method, url, httpVersion, socket
 * addresses; writeHead, write, end, headersSent, 'close').
 */
function onH2Request<P>(
  state: ListenerState<P>,
  req: Http2ServerRequest,
  res: Http2ServerResponse,
): void {
  const conn = connectionOf(req.stream.session)
  const view = state.view
  const accepted = conn?.accepted
  if (conn === undefined || accepted === undefined || view === undefined) {
    req.stream.close(0x7 /* REFUSED_STREAM: safe to retry */)
    return
  }
  const message = req as unknown as IncomingMessage
  const response = res as unknown as ServerResponse
  const rejection = admitRequest(view, accepted, message, () => adaptH2Request(req, view.guard))
  if (rejection !== undefined) {
    // One stream is refused; the connection and its other streams carry on.
    res.writeHead(rejection.status, view.replyHeaders.headers)
    res.end()
    recordRejection(
      state.hooks.observer,
      accepted.context,
      conn.socket,
      describeRequest(message),
      rejection,
      view.replyHeaders.headers,
    )
    return
  }
  trackResponse(state, conn, response)
  // The limit's stream is served; GOAWAY refuses any after it and the session closes once its
  // open streams end (Envoy's max_requests_per_connection on HTTP/2).
  if (isLastRequest(state, conn)) conn.session?.close()
  // The guard passed: only now may the client send the body (Node would have said so itself).
  if (req.headers.expect !== undefined) res.writeContinue()
  try {
    state.hooks.handler(message, response, view.prepared, accepted.context)
  } catch (err) {
    onHandlerThrow(state, view, message, response, err)
  }
}

/**
 * Node destroys the session (and with it the connection) when it emits 'error': a protocol
 * error, a flood nghttp2 refused, a GOAWAY with an error from the client. Counted and logged
 * here; a peer that merely went away is neither.
 */
function onSessionError<P>(state: ListenerState<P>, conn: Connection, err: Error): void {
  const reason = sessionErrorReason(err)
  if (reason === undefined) return
  state.errors.report(state.context.id, reason, {
    protocol: 'HTTP/2',
    ...peerFields(conn.socket),
    ...errorFields(err),
  })
}

/** After the GOAWAY, the socket is closed even if the client stopped reading (flush stalls). */
const ABUSE_CLOSE_GRACE_MS = 250

/** Abuse ends the connection: GOAWAY ENHANCE_YOUR_CALM, then the TCP connection closes. */
function closeAbusiveSession<P>(
  state: ListenerState<P>,
  conn: Connection,
  session: ServerHttp2Session,
  reason: string,
): void {
  state.errors.report(state.context.id, reason, { protocol: 'HTTP/2', ...peerFields(conn.socket) })
  // Called from inside a frame callback of nghttp2: destroy outside it.
  setImmediate(() => {
    if (!session.destroyed) session.destroy(undefined, H2_ENHANCE_YOUR_CALM)
    const timer = setTimeout(() => destroyConnection(conn), ABUSE_CLOSE_GRACE_MS)
    timer.unref()
  })
}
