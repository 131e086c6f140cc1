/**
 * An HTTP/1.1 Upgrade request (Node emits these instead of 'request' once an 'upgrade' listener
 * exists): admitted like any request — client certificate, request guard (h2c stays refused),
 * 421 Host/SNI — then the handler's tunnel, which owns the socket from here.
 */
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { connectionOf, ignore, type ListenerState } from './connection-registry.js'
import { describeRequest, rawReply, recordRejection } from './local-reply.js'
import type { Rejection } from './rejections.js'
import { admitRequest, http1Guard } from './request-admission.js'

const UPGRADE_REFUSED: Rejection = Object.freeze({ status: 403, details: 'upgrade_failed' })

export function onUpgrade<P>(
  state: ListenerState<P>,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
): void {
  socket.on('error', ignore)
  const conn = connectionOf(socket)
  const view = state.view
  const upgrade = state.hooks.handler.upgrade
  if (conn === undefined || view === undefined || conn.closing) {
    socket.destroy()
    return
  }
  const accepted = conn.accepted
  const rejection =
    admitRequest(view, accepted, req, http1Guard) ??
    (upgrade === undefined ? UPGRADE_REFUSED : undefined)
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
  try {
    upgrade(req, socket, head, view.prepared, accepted?.context ?? state.context)
  } catch (err) {
    state.hooks.log.error('upgrade handler threw', { listener: state.context.id, err })
    socket.destroy()
  }
}
