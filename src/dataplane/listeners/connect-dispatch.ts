/** CONNECT reaches no handler on an ingress listener: 405, recorded like any local reply. */
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { connectionOf, ignore, type ListenerState } from './connection-registry.js'
import {
  createLocalReplyHeaders,
  describeRequest,
  rawReply,
  recordRejection,
} from './local-reply.js'
import { REJECT } from './rejections.js'

const PLAIN_REPLY_HEADERS = createLocalReplyHeaders(undefined)

export function onConnect<P>(state: ListenerState<P>, req: IncomingMessage, socket: Socket): void {
  // Node removed its own listeners from the socket before handing it over.
  socket.on('error', ignore)
  const conn = connectionOf(socket)
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
