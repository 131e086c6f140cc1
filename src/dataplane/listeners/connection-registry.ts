/**
 * The connections of one listener and the requests in progress on them: tracking, the drain,
 * maxRequestsPerConnection, and containment (a throw in one connection's callback closes that
 * connection only). Every arrival mode of the front door registers here.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Http2ServerRequest, ServerHttp2Session } from 'node:http2'
import type { Socket } from 'node:net'
import type { ListenerContext } from '../types.js'
import { errorFields, peerFields, type ConnectionErrorReporter } from './connection-errors.js'
import type { AcceptedConnection, ListenerHooks, ServeView } from './front-types.js'

/** Counters shared by a listener and its connections. */
export interface ListenerState<P> {
  readonly context: ListenerContext
  readonly hooks: ListenerHooks<P>
  view: ServeView<P> | undefined
  draining: boolean
  inflight: number
  readonly connections: Set<Connection>
  waiting: [IncomingMessage, ServerResponse][]
  readonly onEmpty: () => void
  /** settings.downstream.maxRequestsPerConnection (0: no limit), counted by us, not by Node. */
  maxRequestsPerConnection: number
  readonly errors: ConnectionErrorReporter
}

export interface Connection {
  readonly socket: Socket
  readonly owner: ListenerState<unknown>
  /** Requests handed to the handler whose response has not closed yet (pipelining: several). */
  readonly responses: Set<ServerResponse>
  /** A local reply is closing this connection: pipelined requests behind it are never served. */
  closing: boolean
  /** Requests (HTTP/2: streams) served on this connection, for maxRequestsPerConnection. */
  requests: number
  /** Set for terminated TLS connections. */
  accepted?: AcceptedConnection
  /** The raw socket was handed on to a TLS socket, tracked on its own. */
  moved?: boolean
  /** ALPN h2: the HTTP/2 session on this connection (drained with GOAWAY). */
  session?: ServerHttp2Session
  /**
   * Terminated TLS: the accepted TCP socket under `socket`. A TLS socket destroyed while its
   * writes are stuck does not always close it, so errors close both.
   */
  transport?: Socket
}

const kConnection = Symbol('portcullis.connection')

interface Tracked {
  [kConnection]?: Connection
}

/** The connection a socket, response or HTTP/2 session belongs to. */
export function connectionOf(owner: object | undefined): Connection | undefined {
  return (owner as Tracked | undefined)?.[kConnection]
}

/** Ties a socket, response or session to its connection (connectionOf finds it again). */
export function bindToConnection(owner: object, conn: Connection): void {
  ;(owner as Tracked)[kConnection] = conn
}

export function trackConnection<P>(state: ListenerState<P>, socket: Socket): Connection {
  const conn: Connection = {
    socket,
    owner: state as ListenerState<unknown>,
    responses: new Set(),
    closing: false,
    requests: 0,
  }
  bindToConnection(socket, conn)
  state.connections.add(conn)
  socket.on('close', onSocketClose)
  return conn
}

function onSocketClose(this: Socket): void {
  const conn = connectionOf(this)
  if (conn === undefined || conn.moved === true) return
  const owner = conn.owner
  owner.connections.delete(conn)
  if (conn.responses.size > 0) {
    // Responses queued behind a pipelined one never emit 'close' when the socket dies.
    owner.inflight -= conn.responses.size
    conn.responses.clear()
  }
  if (owner.draining && owner.connections.size === 0) owner.onEmpty()
}

/** A request handed to the handler: counted in flight until its response closes. */
export function trackResponse<P>(
  state: ListenerState<P>,
  conn: Connection,
  res: ServerResponse,
): void {
  conn.responses.add(res)
  state.inflight++
  bindToConnection(res, conn)
  res.on('close', onResponseClose)
}

function onResponseClose(this: ServerResponse): void {
  const conn = connectionOf(this)
  if (conn === undefined || !conn.responses.delete(this)) return
  const owner = conn.owner
  owner.inflight--
  // The response may have gone out with keep-alive before the drain began. (An HTTP/2 session
  // got its GOAWAY when the drain began and closes once its last stream ends.)
  if (owner.draining && conn.responses.size === 0 && conn.session === undefined) {
    conn.socket.destroySoon()
  }
}

export function beginDrainConnections<P>(state: ListenerState<P>): void {
  for (const conn of state.connections) {
    if (conn.session !== undefined) {
      // GOAWAY: no new streams; open ones finish, then the session closes the connection.
      conn.session.close()
      continue
    }
    if (conn.responses.size === 0) {
      // Connected but never sent a byte: nothing to finish. (Node's closeIdleConnections does not
      // count these as idle.) Connections in the middle of a request head are left to finish it.
      if (conn.socket.bytesRead === 0) conn.socket.destroy()
      continue
    }
    for (const res of conn.responses) {
      if (!res.headersSent) res.shouldKeepAlive = false
    }
  }
}

/**
 * maxRequestsPerConnection, counted here rather than by Node: Node's maxRequestsPerSocket marks
 * the last response `Connection: close` but keeps the socket open, then answers later requests
 * with a bare 503 of its own that nobody records. Here the last response ends the connection
 * (shouldKeepAlive false: Node closes the socket once it is written) and requests pipelined
 * behind it are never served.
 */
export function isLastRequest<P>(state: ListenerState<P>, conn: Connection): boolean {
  conn.requests++
  const max = state.maxRequestsPerConnection
  if (max === 0 || conn.requests < max) return false
  conn.closing = true
  return true
}

/**
 * Runs one connection's callback. A throw — ours, or Node's on a peer that is already gone —
 * closes that connection only; it is counted and logged with its stack, because it is a bug to
 * fix even though only one connection paid for it. Nothing of it reaches the event loop.
 */
export function contain<P>(
  state: ListenerState<P>,
  socket: Socket,
  callback: string,
  fn: () => void,
): void {
  try {
    fn()
  } catch (err) {
    containThrow(state, socket, callback, err)
  }
}

/**
 * What contain() does with a throw, for a hot callback that has its own try/catch (the HTTP/1.1
 * request event) so that no closure is allocated per call.
 */
export function containThrow<P>(
  state: ListenerState<P>,
  socket: Socket,
  callback: string,
  err: unknown,
): void {
  closeOnThrow(state, connectionOf(socket), socket, callback, err)
}

/** As contain(), for an HTTP/2 stream: the throw closes the stream's whole connection. */
export function containStream<P>(
  state: ListenerState<P>,
  req: Http2ServerRequest,
  fn: () => void,
): void {
  try {
    fn()
  } catch (err) {
    const conn = connectionOf(req.stream.session)
    if (conn !== undefined) closeOnThrow(state, conn, conn.socket, 'h2 request', err)
    else if (!req.stream.destroyed) req.stream.close(0x2 /* INTERNAL_ERROR */)
  }
}

function closeOnThrow<P>(
  state: ListenerState<P>,
  conn: Connection | undefined,
  socket: Socket,
  callback: string,
  err: unknown,
): void {
  if (conn !== undefined) destroyConnection(conn)
  else socket.destroy()
  state.errors.report(state.context.id, 'callback_threw', {
    callback,
    ...peerFields(socket),
    ...errorFields(err, true),
  })
}

/** Closes a connection now, whatever state its session and sockets are in. */
export function destroyConnection(conn: Connection): void {
  try {
    conn.session?.destroy()
    conn.socket.destroy()
  } finally {
    conn.transport?.destroy()
  }
}

export function ignore(): void {
  // Errors on a socket we are closing anyway.
}
