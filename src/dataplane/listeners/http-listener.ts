/**
 * One bound plain-HTTP listener: accepts, tracks connections and in-flight requests, refuses what
 * the request guard refuses, hands the rest to the request path with the snapshot it pinned, and
 * drains.
 *
 * Why the socket is accepted by a net.Server we own and then given to an http.Server that never
 * listens itself (`httpServer.emit('connection', socket)`, a documented use of that event): TLS
 * listeners must read the ClientHello before deciding anything — which certificate (SNI), or no
 * termination at all (passthrough to a TCP upstream). https.Server/tls.Server terminate every
 * connection they accept, so they cannot do passthrough. Owning the accept keeps one place to
 * count connections, enforce limits and drain, and lets a TLS listener peek, then wrap the socket
 * in a TLSSocket and hand it to this same HTTP processing (or to the TCP proxy).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer as createHttpServer } from 'node:http'
import type { Http2ServerRequest, Http2ServerResponse, ServerHttp2Session } from 'node:http2'
import { createServer as createH2Server } from 'node:http2'
import type { Server as NetServer, Socket } from 'node:net'
import { createServer as createNetServer } from 'node:net'
import type * as ir from '../../ir/index.js'
import { normalizeHost, type Logger } from '../../lib/index.js'
import type { RequestObserver } from '../../observe/events.js'
import type { ListenerContext } from '../types.js'
import { ListenerBindError } from './bind-error.js'
import {
  createConnectionErrorReporter,
  errorFields,
  peerFields,
  type ConnectionErrorReporter,
} from './connection-errors.js'
import {
  ConnectionCaps,
  type ConnectionRefusal,
  type SharedConnectionCaps,
} from './connection-caps.js'
import { applyForwardClientCert } from './forward-client-cert.js'
import {
  H2_ENHANCE_YOUR_CALM,
  sessionErrorReason,
  watchControlFlood,
  watchRapidReset,
} from './h2-abuse.js'
import { adaptH2Request } from './h2-request.js'
import type { LocalReplyHeaders } from './local-reply.js'
import {
  createLocalReplyHeaders,
  describeRequest,
  rawReply,
  recordRejection,
  UNPARSED_REQUEST,
} from './local-reply.js'
import type { Rejection } from './rejections.js'
import { codecError, REJECT } from './rejections.js'
import { proxyPolicyFor, readProxyHeader } from './proxy-header-reader.js'
import type { GuardSettings } from './request-guard.js'
import { DROP_UNDERSCORE_HEADERS, dropUnderscoreHeaders, inspectRequest } from './request-guard.js'
import {
  applyLimits,
  describeServer,
  httpServerOptions,
  parserHeadLimit,
} from './server-options.js'

/** What a listener serves from, built once per activation and shared by its listeners. */
export interface ServeView<P> {
  readonly prepared: P
  readonly guard: GuardSettings
  readonly replyHeaders: LocalReplyHeaders
  /** What happens to the client's x-forwarded-client-cert (every listener kind). */
  readonly forwardClientCert: ir.ForwardClientCertDetails
}

export interface RequestHandler<P> {
  (req: IncomingMessage, res: ServerResponse, prepared: P, listener: ListenerContext): void
  /** HTTP/1.1 Upgrade requests; without it they are answered 403. */
  readonly upgrade?: UpgradeRequestHandler<P>
  /**
   * Node's parser failed or its request deadline passed while the request was with the handler
   * and its response had not started: the handler answers through its own reply path (so the
   * access log and metrics say what was sent) and ends the connection. False: it could not.
   */
  readonly reject?: (res: ServerResponse, rejection: Rejection, protocolError: boolean) => boolean
}

export type UpgradeRequestHandler<P> = (
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  prepared: P,
  listener: ListenerContext,
) => void

export interface ListenerHooks<P> {
  readonly handler: RequestHandler<P>
  readonly observer: RequestObserver
  readonly log: Logger
  /** A connection was closed at accept over the listener's downstream cap (metrics). */
  readonly onConnectionRefused?: (listener: string, reason: ConnectionRefusal) => void
  /** Downstream caps also held across replicas (or workers) through this limiter. */
  readonly sharedCaps?: SharedConnectionCaps
  /** Errors that close one connection (counted, logged rate-bounded); default: log only. */
  readonly connectionErrors?: ConnectionErrorReporter
}

/** A terminated TLS connection handed to HTTP processing, with what its chain says. */
export interface AcceptedConnection {
  readonly socket: Socket
  /** Scheme https and the chain's route table id. */
  readonly context: ListenerContext
  /** The chain's server hosts: a Host outside them gets 421. */
  readonly serverHosts: readonly string[]
  /**
   * The verified client certificate as x-forwarded-client-cert describes it; undefined when the
   * client presented none (the connection is not mutual TLS).
   */
  readonly clientCert: string | undefined
  /** The client certificate verified but is not one the server admits: requests get 403. */
  readonly forbidden?: string
}

/**
 * Takes every accepted socket of a TLS or TCP listener (it peeks, terminates, or proxies);
 * `deliver` hands a terminated connection to HTTP processing. `prepared` is what the listener
 * serves from at accept time (undefined before the first activation).
 */
export type ConnectionAcceptor<P> = (
  socket: Socket,
  prepared: P | undefined,
  deliver: (conn: AcceptedConnection) => void,
) => void

export interface HttpListener<P> {
  readonly context: ListenerContext
  readonly isListening: boolean
  readonly isDraining: boolean
  /** What new requests on this listener are served from (undefined until the first serve). */
  readonly servedFrom: P | undefined
  /**
   * Serve new requests from `view` from now on. Requests that arrived while the listener was
   * only bound (between prepare and activate) wait for the first call and are dispatched now.
   */
  serve(view: ServeView<P>): void
  applyLimits(limits: ir.DownstreamLimits): void
  /**
   * Stop accepting; close connections that have no request in progress; responses not started
   * yet get `Connection: close`, and connections close as their last response ends.
   */
  beginDrain(): void
  /** Resolves once draining and no connection is left. */
  readonly emptied: Promise<void>
  /** Destroys every remaining connection; returns how many there were. */
  destroyConnections(): number
  /** Releases timers; call after `emptied`. */
  dispose(): void
  stats(): { connections: number; inflight: number }
}

/** Counters shared by a listener and its connections. */
interface ListenerState<P> {
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

interface Connection {
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

const PLAIN_REPLY_HEADERS = createLocalReplyHeaders(undefined)

export async function bindHttpListener<P>(
  listener: ir.Listener,
  limits: ir.DownstreamLimits,
  hooks: ListenerHooks<P>,
  accept?: ConnectionAcceptor<P>,
): Promise<HttpListener<P>> {
  const context: ListenerContext = Object.freeze({
    id: listener.id,
    address: listener.address,
    port: listener.port,
    scheme: 'http',
  })
  const httpServer = createHttpServer(httpServerOptions(limits))
  applyLimits(httpServer, limits)
  // Node starts its headersTimeout/requestTimeout tracking when an http.Server emits 'listening';
  // this one never listens (see the file comment), so start it explicitly. Without it a client
  // that sends nothing would never get its 408.
  httpServer.emit('listening')

  let resolveEmptied: () => void = () => undefined
  const emptied = new Promise<void>((resolve) => {
    resolveEmptied = resolve
  })
  const state: ListenerState<P> = {
    context,
    hooks,
    view: undefined,
    draining: false,
    inflight: 0,
    connections: new Set(),
    waiting: [],
    onEmpty: resolveEmptied,
    maxRequestsPerConnection: limits.maxRequestsPerConnection,
    errors: hooks.connectionErrors ?? createConnectionErrorReporter(hooks.log),
  }

  const onRequestEvent = (req: IncomingMessage, res: ServerResponse): void => {
    contain(state, req.socket, 'request', () => onRequest(state, req, res))
  }
  httpServer.on('request', onRequestEvent)
  // Node answers `Expect` itself (100 Continue, or 417) before emitting 'request'; routing these
  // through onRequest lets the guard see the request first.
  httpServer.on('checkContinue', onRequestEvent)
  httpServer.on('checkExpectation', onRequestEvent)
  httpServer.on('connect', (req: IncomingMessage, socket: Socket) => {
    contain(state, socket, 'connect', () => onConnect(state, req, socket))
  })
  httpServer.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    contain(state, socket, 'upgrade', () => onUpgrade(state, req, socket, head))
  })
  httpServer.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    contain(state, socket, 'clientError', () => onClientError(state, err, socket))
  })

  const netServer = createNetServer({ allowHalfOpen: true, noDelay: true })
  // Terminated TLS connections that negotiated h2 go to an HTTP/2 server that, like httpServer,
  // never listens itself.
  const h2 = accept === undefined ? undefined : createH2Listener(state, limits)
  const deliver = (accepted: AcceptedConnection, transport: Socket): void => {
    if (accepted.socket.destroyed) return
    const conn = trackConnection(state, accepted.socket)
    conn.accepted = accepted
    conn.transport = transport
    if (h2 !== undefined && (accepted.socket as { alpnProtocol?: unknown }).alpnProtocol === 'h2') {
      contain(state, accepted.socket, 'h2 attach', () => h2.attach(conn))
      return
    }
    contain(state, accepted.socket, 'connection', () =>
      httpServer.emit('connection', accepted.socket),
    )
  }
  const caps = new ConnectionCaps(
    listener.id,
    limits,
    { log: hooks.log, onRefused: hooks.onConnectionRefused },
    hooks.sharedCaps !== undefined ? { ...hooks.sharedCaps, port: listener.port } : undefined,
  )
  const onAccepted = (socket: Socket): void => {
    const raw = trackConnection(state, socket)
    if (accept === undefined) {
      contain(state, socket, 'connection', () => httpServer.emit('connection', socket))
      return
    }
    contain(state, socket, 'acceptor', () =>
      accept(socket, state.view?.prepared, (accepted) => {
        // From here the TLS socket stands for the connection (drain, counts, requests).
        raw.moved = true
        state.connections.delete(raw)
        deliver(accepted, socket)
      }),
    )
  }
  const onAdmitted = (socket: Socket): void => {
    // Shared leases arrive later: the listener may be draining by then.
    if (state.draining) {
      socket.destroy()
      return
    }
    onAccepted(socket)
  }
  const onConnection = (socket: Socket): void => {
    if (!caps.admit(socket)) return
    if (caps.isShared) caps.admitShared(socket, onAdmitted)
    else onAccepted(socket)
  }
  // PROXY protocol first: caps per client and everything after them see the proxied address.
  let proxyPolicy = proxyPolicyFor(limits.proxyProtocol, listener.port)
  const onProxied = (socket: Socket): void => {
    // The header may arrive after the drain began.
    if (state.draining) socket.destroy()
    else onConnection(socket)
  }
  const onProxyRefused = (reason: string, detail: string): void => {
    hooks.log.debug('PROXY header refused', { listener: listener.id, reason, detail })
  }
  netServer.on('connection', (socket: Socket) => {
    // A peer can reset at any moment, also before anything owns the socket (while shared leases
    // are taken, or the PROXY header is read): an 'error' nobody listens to would be thrown from
    // the event loop and end the process. Whoever takes the socket next adds its own handling.
    socket.on('error', ignore)
    if (proxyPolicy === undefined) onConnection(socket)
    else readProxyHeader(socket, proxyPolicy, onProxied, onProxyRefused)
  })
  try {
    await listen(netServer, listener.address, listener.port)
  } catch (err) {
    httpServer.close()
    throw new ListenerBindError(listener.id, err as NodeJS.ErrnoException)
  }
  netServer.on('error', (err) => {
    hooks.log.error('listener error', { listener: listener.id, err })
  })
  hooks.log.info('listener bound', { listener: listener.id, ...describeServer(httpServer, limits) })

  return {
    context,
    get isListening() {
      return netServer.listening
    },
    get isDraining() {
      return state.draining
    },
    get servedFrom() {
      return state.view?.prepared
    },
    serve(view) {
      state.view = view
      if (state.waiting.length === 0) return
      const waiting = state.waiting
      state.waiting = []
      for (const [req, res] of waiting) {
        if (!req.socket.destroyed) onRequest(state, req, res)
      }
    },
    applyLimits(next) {
      applyLimits(httpServer, next)
      caps.setLimits(next)
      state.maxRequestsPerConnection = next.maxRequestsPerConnection
      proxyPolicy = proxyPolicyFor(next.proxyProtocol, listener.port)
    },
    beginDrain() {
      if (state.draining) return
      state.draining = true
      netServer.close()
      beginDrainConnections(state)
      // Keep-alive connections between requests (Node knows where its parser is).
      httpServer.closeIdleConnections()
      if (state.connections.size === 0) state.onEmpty()
    },
    emptied,
    destroyConnections() {
      state.waiting = []
      const count = state.connections.size
      for (const conn of state.connections) conn.socket.destroy()
      return count
    },
    dispose() {
      if (netServer.listening) netServer.close()
      // Clears Node's connection-checking interval.
      httpServer.close()
      h2?.close()
    },
    stats() {
      return { connections: state.connections.size, inflight: state.inflight }
    },
  }
}

function listen(server: NetServer, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening)
      reject(err)
    }
    const onListening = (): void => {
      server.off('error', onError)
      resolve()
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen({ host, port })
  })
}

function trackConnection<P>(state: ListenerState<P>, socket: Socket): Connection {
  const conn: Connection = {
    socket,
    owner: state as ListenerState<unknown>,
    responses: new Set(),
    closing: false,
    requests: 0,
  }
  ;(socket as Tracked)[kConnection] = conn
  state.connections.add(conn)
  socket.on('close', onSocketClose)
  return conn
}

function onSocketClose(this: Socket): void {
  const conn = (this as Tracked)[kConnection]
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

function onResponseClose(this: ServerResponse): void {
  const conn = (this as Tracked)[kConnection]
  if (conn === undefined || !conn.responses.delete(this)) return
  const owner = conn.owner
  owner.inflight--
  // The response may have gone out with keep-alive before the drain began. (An HTTP/2 session
  // got its GOAWAY when the drain began and closes once its last stream ends.)
  if (owner.draining && conn.responses.size === 0 && conn.session === undefined) {
    conn.socket.destroySoon()
  }
}

function beginDrainConnections<P>(state: ListenerState<P>): void {
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

function onRequest<P>(state: ListenerState<P>, req: IncomingMessage, res: ServerResponse): void {
  const conn = (req.socket as Tracked)[kConnection]
  // A local reply already ends this connection; nothing behind it may reach an upstream.
  if (conn === undefined || conn.closing) return
  // Pinned once: the request finishes on this snapshot whatever is activated meanwhile.
  const view = state.view
  if (view === undefined) {
    state.waiting.push([req, res])
    return
  }
  const accepted = conn.accepted
  if (accepted === undefined) setClientCert(req, view, undefined)
  else if (!onTlsRequest(state, view, conn, accepted, req, res)) return
  const verdict = inspectRequest(req, view.guard)
  if (verdict !== undefined) {
    if (verdict !== DROP_UNDERSCORE_HEADERS) {
      rejectWithResponse(state, view, conn, req, res, verdict)
      return
    }
    dropUnderscoreHeaders(req)
  }
  conn.responses.add(res)
  state.inflight++
  ;(res as Tracked)[kConnection] = conn
  res.on('close', onResponseClose)
  if (state.draining || isLastRequest(state, conn)) res.shouldKeepAlive = false
  // The guard let `Expect` through only as exactly 100-continue (ignored in HTTP/1.0).
  if (req.httpVersionMinor === 1 && req.headers.expect !== undefined) res.writeContinue()
  try {
    state.hooks.handler(req, res, view.prepared, accepted?.context ?? state.context)
  } catch (err) {
    onHandlerThrow(state, view, req, res, err)
  }
}

/**
 * maxRequestsPerConnection, counted here rather than by Node: Node's maxRequestsPerSocket marks
 * the last response `Connection: close` but keeps the socket open, then answers later requests
 * with a bare 503 of its own that nobody records. Here the last response ends the connection
 * (shouldKeepAlive false: Node closes the socket once it is written) and requests pipelined
 * behind it are never served.
 */
function isLastRequest<P>(state: ListenerState<P>, conn: Connection): boolean {
  conn.requests++
  const max = state.maxRequestsPerConnection
  if (max === 0 || conn.requests < max) return false
  conn.closing = true
  return true
}

const MISDIRECTED: Rejection = Object.freeze({ status: 421, details: 'misdirected_request' })

/**
 * A terminated connection may only carry hosts of the server its SNI chose (421 otherwise,
 * hardening.md §3.3: a certificate for several names must not open the other servers' routes).
 * x-forwarded-client-cert follows forwardClientCertDetails with the verified client certificate.
 */
function onTlsRequest<P>(
  state: ListenerState<P>,
  view: ServeView<P>,
  conn: Connection,
  accepted: AcceptedConnection,
  req: IncomingMessage,
  res: ServerResponse,
): boolean {
  if (accepted.forbidden !== undefined) {
    rejectWithResponse(state, view, conn, req, res, { status: 403, details: accepted.forbidden })
    return false
  }
  const host = normalizeHost(req.headers.host ?? '')
  if (host !== undefined && !hostCovered(accepted.serverHosts, host)) {
    rejectWithResponse(state, view, conn, req, res, MISDIRECTED)
    return false
  }
  setClientCert(req, view, accepted)
  return true
}

/**
 * x-forwarded-client-cert per forwardClientCertDetails, before the request path copies the
 * client's headers; `accepted` is undefined on plain HTTP, which is never mutual TLS.
 */
function setClientCert<P>(
  req: IncomingMessage,
  view: ServeView<P>,
  accepted: AcceptedConnection | undefined,
): void {
  applyForwardClientCert(req, view.forwardClientCert, accepted?.clientCert)
}

function hostCovered(patterns: readonly string[], host: string): boolean {
  for (const p of patterns) {
    if (p === '*' || p === host) return true
    if (p.charCodeAt(0) === 42 /* '*' */ && host.length > p.length - 1 && host.endsWith(p.slice(1)))
      return true
  }
  return false
}

/** HTTP/2 settings of hardening.md §1.3 (Envoy edge). */
const H2_MAX_CONCURRENT_STREAMS = 100
const H2_STREAM_WINDOW = 64 * 1024
const H2_CONNECTION_WINDOW = 1024 * 1024
/** An HTTP/2 session with no stream activity for this long gets GOAWAY. */
const H2_IDLE_TIMEOUT_MS = 300_000

interface H2Listener {
  /** Serves HTTP/2 on a tracked, terminated connection that negotiated h2. */
  attach(conn: Connection): void
  close(): void
}

function createH2Listener<P>(state: ListenerState<P>, limits: ir.DownstreamLimits): H2Listener {
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
    ;(session as Tracked)[kConnection] = conn
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
 * An HTTP/2 stream: the same checks as an HTTP/1.1 request on a TLS connection, then the same
 * handler. Node's compatibility objects stand in for IncomingMessage/ServerResponse; the request
 * path reads only what both provide (headers, rawHeaders, method, url, httpVersion, socket
 * addresses; writeHead, write, end, headersSent, 'close').
 */
function onH2Request<P>(
  state: ListenerState<P>,
  req: Http2ServerRequest,
  res: Http2ServerResponse,
): void {
  const conn = (req.stream.session as Tracked | undefined)?.[kConnection]
  const view = state.view
  const accepted = conn?.accepted
  if (conn === undefined || accepted === undefined || view === undefined) {
    req.stream.close(0x7 /* REFUSED_STREAM: safe to retry */)
    return
  }
  const rejection =
    accepted.forbidden !== undefined
      ? { status: 403, details: accepted.forbidden }
      : (adaptH2Request(req, view.guard) ?? misdirected(accepted, req.headers.host))
  const message = req as unknown as IncomingMessage
  const response = res as unknown as ServerResponse
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
  setClientCert(message, view, accepted)
  conn.responses.add(response)
  state.inflight++
  ;(res as Tracked)[kConnection] = conn
  res.on('close', onResponseClose)
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

function misdirected(
  accepted: AcceptedConnection,
  hostHeader: string | undefined,
): Rejection | undefined {
  const host = normalizeHost(hostHeader ?? '')
  return host !== undefined && !hostCovered(accepted.serverHosts, host) ? MISDIRECTED : undefined
}

function rejectWithResponse<P>(
  state: ListenerState<P>,
  view: ServeView<P>,
  conn: Connection,
  req: IncomingMessage,
  res: ServerResponse,
  rejection: Rejection,
): void {
  conn.closing = true
  // Node then writes `Connection: close` and closes the socket once the reply is written.
  res.shouldKeepAlive = false
  res.writeHead(rejection.status, view.replyHeaders.headers)
  res.end()
  recordRejection(
    state.hooks.observer,
    conn.accepted?.context ?? state.context,
    conn.socket,
    describeRequest(req),
    rejection,
    view.replyHeaders.headers,
  )
}

function onHandlerThrow<P>(
  state: ListenerState<P>,
  view: ServeView<P>,
  req: IncomingMessage,
  res: ServerResponse,
  err: unknown,
): void {
  state.hooks.log.error('request handler threw', {
    listener: state.context.id,
    method: req.method,
    path: req.url,
    err,
  })
  if (res.headersSent) {
    res.destroy()
    return
  }
  res.shouldKeepAlive = false
  res.writeHead(500, view.replyHeaders.headers)
  res.end()
}

const UPGRADE_REFUSED: Rejection = Object.freeze({ status: 403, details: 'upgrade_failed' })

/**
 * An Upgrade request (Node emits these instead of 'request' once an 'upgrade' listener exists):
 * the same guard as any request (h2c stays refused), then the handler's tunnel, which owns the
 * socket from here.
 */
function onUpgrade<P>(
  state: ListenerState<P>,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
): void {
  socket.on('error', ignore)
  const conn = (socket as Tracked)[kConnection]
  const view = state.view
  const upgrade = state.hooks.handler.upgrade
  const accepted = conn?.accepted
  if (conn === undefined || view === undefined || conn.closing) {
    socket.destroy()
    return
  }
  let rejection: Rejection | undefined
  if (accepted?.forbidden !== undefined) {
    rejection = { status: 403, details: accepted.forbidden }
  } else if (accepted !== undefined && misdirected(accepted, req.headers.host) !== undefined) {
    // An upgrade is a request like any other: a Host outside the SNI's server gets 421.
    rejection = MISDIRECTED
  } else {
    const verdict = inspectRequest(req, view.guard)
    if (verdict === DROP_UNDERSCORE_HEADERS) dropUnderscoreHeaders(req)
    else if (verdict !== undefined) rejection = verdict
    else if (upgrade === undefined) rejection = UPGRADE_REFUSED
  }
  if (rejection !== undefined || upgrade === undefined) {
    conn.closing = true
    const replyHeaders = view.replyHeaders
    const refused = rejection ?? UPGRADE_REFUSED
    socket.end(rawReply(refused.status, replyHeaders))
    recordRejection(
      state.hooks.observer,
      accepted?.context ?? state.context,
      socket,
      describeRequest(req),
      refused,
      replyHeaders.headers,
    )
    return
  }
  setClientCert(req, view, accepted)
  try {
    upgrade(req, socket, head, view.prepared, accepted?.context ?? state.context)
  } catch (err) {
    state.hooks.log.error('upgrade handler threw', { listener: state.context.id, err })
    socket.destroy()
  }
}

/** CONNECT reaches no handler on an ingress listener (egress listeners will take it). */
function onConnect<P>(state: ListenerState<P>, req: IncomingMessage, socket: Socket): void {
  // Node removed its own listeners from the socket before handing it over.
  socket.on('error', ignore)
  const conn = (socket as Tracked)[kConnection]
  if (conn !== undefined) conn.closing = true
  const replyHeaders = state.view?.replyHeaders ?? PLAIN_REPLY_HEADERS
  const rejection = REJECT.connectNotAllowed
  socket.end(rawReply(rejection.status, replyHeaders))
  recordRejection(
    state.hooks.observer,
    state.context,
    socket,
    describeRequest(req),
    rejection,
    replyHeaders.headers,
  )
}

/** Node's parser refused the bytes, or a header/request deadline passed. */
function onClientError<P>(
  state: ListenerState<P>,
  err: NodeJS.ErrnoException,
  socket: Socket,
): void {
  const conn = (socket as Tracked)[kConnection]
  if (
    conn === undefined ||
    conn.closing ||
    !socket.writable ||
    err.code === 'ECONNRESET' ||
    // The client closed its side in the middle of a request head: nobody is left to answer.
    err.code === 'HPE_INVALID_EOF_STATE'
  ) {
    socket.destroy()
    return
  }
  conn.closing = true
  const rejection = rejectionFor(err)
  const replyHeaders = state.view?.replyHeaders ?? PLAIN_REPLY_HEADERS
  const [inflight] = conn.responses
  if (inflight !== undefined) {
    // The request already went to the handler (its body broke or timed out). As Node does: answer
    // only if that response has not started, then drop the connection; the request path answers
    // and records it, so the log shows the status that went out.
    const rejectInFlight = state.hooks.handler.reject
    const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    const inFlightRejection = timedOut ? REJECT.requestTimeout : rejection
    if (
      !inflight.headersSent &&
      rejectInFlight !== undefined &&
      rejectInFlight(inflight, inFlightRejection, !timedOut)
    ) {
      // Node closes the socket once that reply is written (shouldKeepAlive is false).
      return
    }
    if (!inflight.headersSent) socket.write(rawReply(inFlightRejection.status, replyHeaders))
    socket.destroy()
    return
  }
  socket.write(rawReply(rejection.status, replyHeaders))
  socket.destroySoon()
  // A connection that never sent a byte (a preconnect, an idle probe) timed out; no request to log.
  if (socket.bytesRead === 0) return
  recordRejection(
    state.hooks.observer,
    state.context,
    socket,
    UNPARSED_REQUEST,
    rejection,
    replyHeaders.headers,
  )
}

function rejectionFor(err: NodeJS.ErrnoException): Rejection {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return REJECT.headersTooLarge
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return REJECT.chunkExtensionsTooLarge
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return REJECT.requestHeaderTimeout
    default:
      return codecError(err.code)
  }
}

/**
 * Runs one connection's callback. A throw — ours, or Node's on a peer that is already gone —
 * closes that connection only; it is counted and logged with its stack, because it is a bug to
 * fix even though only one connection paid for it. Nothing of it reaches the event loop.
 */
function contain<P>(
  state: ListenerState<P>,
  socket: Socket,
  callback: string,
  fn: () => void,
): void {
  try {
    fn()
  } catch (err) {
    closeOnThrow(state, (socket as Tracked)[kConnection], socket, callback, err)
  }
}

/** As contain(), for an HTTP/2 stream: the throw closes the stream's whole connection. */
function containStream<P>(state: ListenerState<P>, req: Http2ServerRequest, fn: () => void): void {
  try {
    fn()
  } catch (err) {
    const conn = (req.stream.session as Tracked | undefined)?.[kConnection]
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

/** Closes a connection now, whatever state its session and sockets are in. */
function destroyConnection(conn: Connection): void {
  try {
    conn.session?.destroy()
    conn.socket.destroy()
  } finally {
    conn.transport?.destroy()
  }
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

function ignore(): void {
  // Errors on a socket we are closing anyway.
}
