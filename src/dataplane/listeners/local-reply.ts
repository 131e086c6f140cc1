/**
 * Local replies for requests the listener refuses before routing: always `Connection: close`, no
 * body, one RequestRecord with flag DPE. Two shapes: through the ServerResponse Node created (the
 * head parsed fine) or as raw bytes on the socket (Node's parser failed, or CONNECT, which Node
 * hands over without a response object).
 */
import type { OutgoingHttpHeaders } from 'node:http'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { RequestObserver } from '../../observe/events.js'
import { socketAddresses } from '../record/address.js'
import { Flag } from '../record/flags.js'
import {
  buildLocalRecord,
  describeMessage,
  UNPARSED,
  type RecordedRequest,
} from '../record/local-record.js'
import type { ListenerContext } from '../types.js'
import type { Rejection } from './rejections.js'

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
export type RejectedRequest = RecordedRequest

export const describeRequest = describeMessage
export const UNPARSED_REQUEST = UNPARSED

export function recordRejection(
  observer: RequestObserver,
  listener: ListenerContext,
  socket: Socket,
  request: RejectedRequest,
  rejection: Rejection,
  responseHeaders: OutgoingHttpHeaders,
): void {
  observer.onRequestComplete(
    buildLocalRecord({
      request,
      startTime: Date.now(),
      listener: listener.id,
      scheme: listener.scheme,
      addresses: socketAddresses(socket),
      status: rejection.status,
      flags: Flag.DPE,
      details: rejection.details,
      responseHeaders: { ...responseHeaders, connection: 'close' },
    }),
  )
}
