/**
 * Node's HTTP/1.1 parser refused the bytes, or a header/request deadline passed: answered with
 * the status Envoy would send and recorded, never with Node's bare default reply.
 */
import type { Socket } from 'node:net'
import { connectionOf, type ListenerState } from './connection-registry.js'
import {
  createLocalReplyHeaders,
  rawReply,
  recordRejection,
  UNPARSED_REQUEST,
} from './local-reply.js'
import type { Rejection } from './rejections.js'
import { codecError, REJECT } from './rejections.js'

const PLAIN_REPLY_HEADERS = createLocalReplyHeaders(undefined)

export function onClientError<P>(
  state: ListenerState<P>,
  err: NodeJS.ErrnoException,
  socket: Socket,
): void {
  const conn = connectionOf(socket)
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
