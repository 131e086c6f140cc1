/**
 * What CONNECT and Upgrade share once Node has handed over the socket with the request head
 * (no ServerResponse exists): the socket's error listener, and a refusal written as raw bytes
 * and recorded. The handler that takes the socket runs inside the server's contain(): a throw
 * closes this connection only.
 */
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { ListenerContext } from '../types.js'
import { connectionOf, ignore, type Connection, type ListenerState } from './connection-registry.js'
import {
  describeRequest,
  rawReply,
  recordRejection,
  type LocalReplyHeaders,
} from './local-reply.js'
import type { Rejection } from './rejections.js'

/** The head and socket Node emits with 'connect' and 'upgrade'. */
export interface HandedOver {
  readonly req: IncomingMessage
  readonly socket: Socket
  readonly head: Buffer
}

/** The socket's connection; from here on its errors are ours to contain. */
export function takeOver(socket: Socket): Connection | undefined {
  // Node removed its own listeners from the socket before handing it over.
  socket.on('error', ignore)
  return connectionOf(socket)
}

/** Answers with `rejection` on the raw socket, closes it, and records the local reply. */
export function refuseHandedOver<P>(
  state: ListenerState<P>,
  listener: ListenerContext,
  { req, socket }: HandedOver,
  rejection: Rejection,
  replyHeaders: LocalReplyHeaders,
): void {
  socket.end(rawReply(rejection.status, replyHeaders))
  recordRejection(
    state.hooks.observer,
    listener,
    socket,
    describeRequest(req),
    rejection,
    replyHeaders.headers,
  )
}
