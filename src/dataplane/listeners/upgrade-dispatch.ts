/**
 * An HTTP/1.1 Upgrade request (Node emits these instead of 'request' once an 'upgrade' listener
 * exists): admitted like any request — client certificate, request guard (h2c stays refused),
 * 421 Host/SNI — then the handler's tunnel, which owns the socket from here.
 */
import type { ListenerState } from './connection-registry.js'
import type { Rejection } from './rejections.js'
import { admitRequest, http1Guard } from './request-admission.js'
import { refuseHandedOver, takeOver, type HandedOver } from './socket-handover.js'

const UPGRADE_REFUSED: Rejection = Object.freeze({ status: 403, details: 'upgrade_failed' })

export function onUpgrade<P>(state: ListenerState<P>, handedOver: HandedOver): void {
  const { req, socket, head } = handedOver
  const conn = takeOver(socket)
  const view = state.view
  const upgrade = state.hooks.handler.upgrade
  if (conn === undefined || view === undefined || conn.closing) {
    socket.destroy()
    return
  }
  const accepted = conn.accepted
  const listener = accepted?.context ?? state.context
  const rejection =
    admitRequest(view, accepted, req, http1Guard) ??
    (upgrade === undefined ? UPGRADE_REFUSED : undefined)
  if (rejection !== undefined || upgrade === undefined) {
    conn.closing = true
    refuseHandedOver(state, listener, handedOver, rejection ?? UPGRADE_REFUSED, view.replyHeaders)
    return
  }
  upgrade(req, socket, head, view.prepared, listener)
}
