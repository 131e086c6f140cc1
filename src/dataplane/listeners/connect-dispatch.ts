/**
 * CONNECT: a listener whose handler takes tunnels (the outbound listener) hands it the socket,
 * once the request guard has admitted the head as it admits any request (authority-form target,
 * header count and size, framing, underscores); on any other listener it reaches no handler and
 * is answered 405. Either refusal is a recorded local reply and nothing connects upstream.
 */
import { Server as Http1Server } from 'node:http'
import type { Socket } from 'node:net'
import { connectionOf, type ListenerState } from './connection-registry.js'
import { createLocalReplyHeaders } from './local-reply.js'
import { REJECT, type Rejection } from './rejections.js'
import { http1Guard } from './request-admission.js'
import { refuseHandedOver, takeOver, type HandedOver } from './socket-handover.js'

const PLAIN_REPLY_HEADERS = createLocalReplyHeaders(undefined)

export function onConnect<P>(state: ListenerState<P>, handedOver: HandedOver): void {
  const { req, socket, head } = handedOver
  const conn = takeOver(socket)
  // Nothing follows a CONNECT on its connection: the bytes after it are the tunnel's.
  if (conn !== undefined) conn.closing = true
  const view = state.view
  const tunnel = state.hooks.handler.connect
  let rejection: Rejection = REJECT.connectNotAllowed
  if (tunnel !== undefined && view !== undefined) {
    const refused = http1Guard(view, req)
    if (refused === undefined) {
      tunnel(req, socket, head, view.prepared, state.context)
      return
    }
    rejection = refused
  }
  const replyHeaders = view?.replyHeaders ?? PLAIN_REPLY_HEADERS
  refuseHandedOver(state, state.context, handedOver, rejection, replyHeaders)
}

/**
 * HTTP inside an admitted CONNECT (a ServiceEntry port with protocol HTTP): after the tunnel's
 * 200, the socket goes back to the listener's own HTTP/1.1 server, so every request it carries
 * is guarded, admitted and served like one sent to the listener directly. Node sets
 * `socket.server` to the HTTP server that emitted the CONNECT; without one nothing is served.
 */
export function serveHttpInTunnel(socket: Socket, head: Buffer): boolean {
  const server = (socket as { server?: unknown }).server
  if (!(server instanceof Http1Server)) return false
  // The connection carries requests again: they are served, not dropped as after a tunnel.
  const conn = connectionOf(socket)
  if (conn !== undefined) conn.closing = false
  if (head.length > 0) socket.unshift(head)
  server.emit('connection', socket)
  return true
}
