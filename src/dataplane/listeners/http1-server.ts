/**
 * HTTP/1.1 on one listener: a node:http server that never listens itself (the front door accepts
 * and hands it each connection), whose requests are admitted here and handed to the handler
 * with the snapshot they pinned. Upgrade, CONNECT and parser errors have their own files.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import type { Socket } from 'node:net'
import type * as ir from '../../ir/index.js'
import { onClientError } from './client-errors.js'
import { onConnect } from './connect-dispatch.js'
import {
  connectionOf,
  contain,
  containThrow,
  isLastRequest,
  trackResponse,
  type Connection,
  type ListenerState,
} from './connection-registry.js'
import type { ServeView } from './front-types.js'
import { describeRequest, recordRejection } from './local-reply.js'
import type { Rejection } from './rejections.js'
import { admitRequest, http1Guard } from './request-admission.js'
import { applyLimits, httpServerOptions } from './server-options.js'
import { onUpgrade } from './upgrade-dispatch.js'

export function createHttp1Server<P>(
  state: ListenerState<P>,
  limits: ir.DownstreamLimits,
): HttpServer {
  const httpServer = createHttpServer(httpServerOptions(limits))
  applyLimits(httpServer, limits)
  // Node starts its headersTimeout/requestTimeout tracking when an http.Server emits 'listening';
  // this one never listens (see http-listener.ts), so start it explicitly. Without it a client
  // that sends nothing would never get its 408.
  httpServer.emit('listening')
  // contain() without its per-request closure: this runs once per request.
  const onRequestEvent = (req: IncomingMessage, res: ServerResponse): void => {
    try {
      onRequest(state, req, res)
    } catch (err) {
      containThrow(state, req.socket, 'request', err)
    }
  }
  httpServer.on('request', onRequestEvent)
  // Node answers `Expect` itself (100 Continue, or 417) before emitting 'request'; routing these
  // through onRequest lets the guard see the request first.
  httpServer.on('checkContinue', onRequestEvent)
  httpServer.on('checkExpectation', onRequestEvent)
  httpServer.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    contain(state, socket, 'connect', () => onConnect(state, { req, socket, head }))
  })
  httpServer.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    contain(state, socket, 'upgrade', () => onUpgrade(state, { req, socket, head }))
  })
  httpServer.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    contain(state, socket, 'clientError', () => onClientError(state, err, socket))
  })
  return httpServer
}

/** Requests that waited for the listener's first view (bound, not yet activated). */
export function dispatchWaiting<P>(state: ListenerState<P>): void {
  if (state.waiting.length === 0) return
  const waiting = state.waiting
  state.waiting = []
  for (const [req, res] of waiting) {
    if (!req.socket.destroyed) onRequest(state, req, res)
  }
}

function onRequest<P>(state: ListenerState<P>, req: IncomingMessage, res: ServerResponse): void {
  const conn = connectionOf(req.socket)
  // A local reply already ends this connection; nothing behind it may reach an upstream.
  if (conn === undefined || conn.closing) return
  // Pinned once: the request finishes on this snapshot whatever is activated meanwhile.
  const view = state.view
  if (view === undefined) {
    state.waiting.push([req, res])
    return
  }
  const accepted = conn.accepted
  const rejection = admitRequest(view, accepted, req, http1Guard)
  if (rejection !== undefined) {
    rejectWithResponse(state, view, conn, req, res, rejection)
    return
  }
  trackResponse(state, conn, res)
  if (state.draining || isLastRequest(state, conn)) res.shouldKeepAlive = false
  // The guard let `Expect` through only as exactly 100-continue (ignored in HTTP/1.0).
  if (req.httpVersionMinor === 1 && req.headers.expect !== undefined) res.writeContinue()
  try {
    state.hooks.handler(req, res, view.prepared, accepted?.context ?? state.context)
  } catch (err) {
    onHandlerThrow(state, view, req, res, err)
  }
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

/** The handler threw before answering: 500, and the connection ends. */
export function onHandlerThrow<P>(
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
