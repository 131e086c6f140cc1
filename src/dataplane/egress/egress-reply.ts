/**
 * What a refused CONNECT gets, and the record of every CONNECT tunnel (and of outbound targets
 * refused before any destination is known). HTTP egress requests are recorded by the request
 * path (http/egress-outcome.ts).
 */
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { EgressDecision } from '../../match/index.js'
import type { RequestObserver, RequestRecord } from '../../observe/events.js'
import { socketAddresses, type SocketAddresses } from '../record/address.js'
import { egressDestination } from '../http/egress-outcome.js'
import { denialBody, EGRESS_HEADER, EGRESS_REASON_HEADER } from '../record/egress-denial.js'
import { buildLocalRecord, describeMessage } from '../record/local-record.js'

export interface EgressRecordInput {
  readonly req: IncomingMessage
  readonly startTime: number
  readonly status: number
  /** Flag bits (record/flags.ts). */
  readonly flags: number
  readonly details: string
  readonly decision: EgressDecision | undefined
  readonly listener: string
  readonly authority: string
  /**
   * The connection's addresses, read when the request arrived. Required for records built after
   * the socket closed (a CONNECT tunnel's), which reports no addresses any more.
   */
  readonly addresses?: SocketAddresses
  readonly upstreamHost?: string
  readonly bytesSent?: number
  readonly bytesReceived?: number
}

export function egressRecord(i: EgressRecordInput): RequestRecord {
  const d = i.decision
  return buildLocalRecord({
    request: describeMessage(i.req),
    startTime: i.startTime,
    listener: i.listener,
    scheme: 'http',
    addresses: i.addresses ?? socketAddresses(i.req.socket),
    status: i.status,
    flags: i.flags,
    details: i.details,
    authority: i.authority,
    bytesReceived: i.bytesReceived ?? 0,
    bytesSent: i.bytesSent ?? 0,
    ...(i.upstreamHost !== undefined ? { upstreamHost: i.upstreamHost } : {}),
    ...(d !== undefined
      ? {
          upstreamCluster: d.cluster,
          destinationService: egressDestination(d),
        }
      : {}),
  })
}

/** A CONNECT answer written on the raw socket, which is then closed. */
export function replyConnectRefused(
  socket: Socket,
  status: 400 | 403 | 503,
  d: EgressDecision | undefined,
  reason: string,
): number {
  const text = { 400: 'Bad Request', 403: 'Forbidden', 503: 'Service Unavailable' }[status]
  const body =
    d !== undefined
      ? denialBody(d, reason).replace('denied', status === 403 ? 'denied' : 'failed')
      : `${reason}\n`
  const head =
    `HTTP/1.1 ${status} ${text}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
    `${EGRESS_HEADER}: ${status === 403 ? 'denied' : 'error'}\r\n${EGRESS_REASON_HEADER}: ${reason}\r\nconnection: close\r\n\r\n`
  socket.end(head + body)
  return Buffer.byteLength(body)
}

export function complete(observer: RequestObserver, record: RequestRecord): void {
  observer.onRequestComplete(record)
}

export { egressDestination }
