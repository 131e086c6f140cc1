/**
 * CONNECT: a listener whose handler takes tunnels (the outbound listener) hands it the socket,
 * once the request guard has admitted the head as it admits any request (authority-form target,
 * header count and size, framing, underscores); on any other listener it reaches no handler and
 * is answered 405. Either refusal is a recorded local reply and nothing connects upstream.
 */
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { connectionOf, ignore, type ListenerState } from './connection-registry.js'
import {
  createLocalReplyHeaders,
  describeRequest,
  rawReply,
  recordRejection,
} from './local-reply.js'
import { REJECT, type Rejection } from './rejections.js'
import { http1Guard } from './request-admission.js'

const PLAIN_REPLY_HEADERS = createLocalReplyHeaders(undefined)

export function onConnect<P>(
  state: ListenerState<P>,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
): void {
  // Node removed its own listeners from the socket before handing it over.
  socket.on('error', ignore)
  const conn = connectionOf(socket)
  // Nothing follows a CONNECT on its connection: the bytes after it are the tunnel's.
  if (conn !== undefined) conn.closing = true
  const view = state.view
  const tunnel = state.hooks.handler.connect
  let rejection: Rejection = REJECT.connectNotAllowed
  if (tunnel !== undefined && view !== undefined) {
    const refused = http1Guard(view, req)
    if (refused === undefined) {
      try {
        tunnel(req, socket, head, view.prepared, state.context)
      } catch (err) {
        state.hooks.log.error('connect handler threw', { listener: state.context.id, err })
        socket.destroy()
      }
      return
    }
    rejection = refused
  }
  const replyHeaders = view?.replyHeaders ?? PLAIN_REPLY_HEADERS
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
