/**
 * Local replies for requests the listener refuses before routing: always `Connection: close`, no
 * body, one RequestRecord with flag DPE. Two shapes: through the ServerResponse Node created (the
 * head parsed fine) or as raw bytes on the socket (Node's parser failed, or CONNECT, which Node
 * hands over without a response object).
 */
import { randomUUID } from 'node:crypto'
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { RequestObserver, RequestRecord } from '../../observe/events.js'
import type { ListenerContext } from '../types.js'
import type { Rejection } from './rejections.js'

export const DPE = 'DPE'

/** Headers every local reply of one snapshot carries, built once per activation. */
export interface LocalReplyHeaders {
  readonly headers: OutgoingHttpHeaders
  /** The same headers as raw lines (`name: value\r\n`...), for replies written on the socket. */
  readonly rawLines: string
}

export function createLocalReplyHeaders(serverHeader: string | undefined): LocalReplyHeaders {
  const headers: OutgoingHttpHeaders =
    serverHeader === undefined || serverHeader === ''
      ? { 'content-length': '0' }
      : { 'content-length': '0', server: serverHeader }
  let rawLines = ''
  for (const [name, value] of Object.entries(headers)) rawLines += `${name}: ${String(value)}\r\n`
  return Object.freeze({ headers: Object.freeze(headers), rawLines })
}

/** Status line plus headers for a reply written straight onto a socket. */
export function rawReply(status: number, replyHeaders: LocalReplyHeaders): string {
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nconnection: close\r\n${replyHeaders.rawLines}\r\n`
}

/** What the record says about the request; for parser failures most of it is unknown. */
export interface RejectedRequest {
  readonly method: string
  readonly path: string
  readonly protocol: string
  readonly authority: string
  readonly requestHeaders: IncomingHttpHeaders
}

export function describeRequest(req: IncomingMessage): RejectedRequest {
  const headers = req.headers
  return {
    method: req.method ?? '',
    path: req.url ?? '',
    protocol: `HTTP/${req.httpVersion}`,
    authority: headers.host ?? '',
    requestHeaders: headers,
  }
}

export const UNPARSED_REQUEST: RejectedRequest = Object.freeze({
  method: '',
  path: '',
  protocol: '',
  authority: '',
  requestHeaders: Object.freeze({}),
})

export function recordRejection(
  observer: RequestObserver,
  listener: ListenerContext,
  socket: Socket,
  request: RejectedRequest,
  rejection: Rejection,
  responseHeaders: OutgoingHttpHeaders,
): void {
  const record: RequestRecord = {
    startTime: Date.now(),
    durationMs: 0,
    method: request.method,
    path: request.path,
    protocol: request.protocol,
    scheme: listener.scheme,
    authority: request.authority,
    requestHeaders: request.requestHeaders,
    responseHeaders: { ...responseHeaders, connection: 'close' },
    requestId: randomUUID(),
    status: rejection.status,
    responseFlags: DPE,
    responseCodeDetails: rejection.details,
    bytesReceived: 0,
    bytesSent: 0,
    upstreamHost: undefined,
    upstreamCluster: undefined,
    upstreamServiceTimeMs: undefined,
    destinationService: undefined,
    routeName: undefined,
    listener: listener.id,
    downstreamRemoteAddress: formatAddress(socket.remoteAddress, socket.remotePort),
    downstreamLocalAddress: formatAddress(socket.localAddress, socket.localPort),
    requestedServerName: undefined,
  }
  observer.onRequestComplete(record)
}

/** Envoy's address format: `1.2.3.4:80`, `[::1]:80`. */
export function formatAddress(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return ''
  const host = address.includes(':') ? `[${address}]` : address
  return port === undefined ? host : `${host}:${port}`
}
