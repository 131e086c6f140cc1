/**
 * What a refused egress request gets, and the access-log record of every egress decision the
 * proxy answers itself. No upstream connection exists when these are sent.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { BLACK_HOLE_CLUSTER, PASSTHROUGH_CLUSTER, type EgressDecision } from '../../match/index.js'
import type { RequestObserver, RequestRecord } from '../../observe/events.js'

export const EGRESS_HEADER = 'x-portcullis-egress'
export const EGRESS_REASON_HEADER = 'x-portcullis-egress-reason'

export function denialBody(d: EgressDecision, reason: string): string {
  return `egress denied: ${reason} (${d.host}:${d.port})\n`
}

export interface EgressRecordInput {
  readonly req: IncomingMessage
  readonly startTime: number
  readonly status: number
  readonly flags: string
  readonly details: string
  readonly decision: EgressDecision | undefined
  readonly listener: string
  readonly authority: string
  readonly upstreamHost?: string
  readonly bytesSent?: number
  readonly bytesReceived?: number
}

export function egressRecord(i: EgressRecordInput): RequestRecord {
  const socket = i.req.socket
  return {
    startTime: i.startTime,
    durationMs: Date.now() - i.startTime,
    method: i.req.method ?? '',
    path: i.req.url ?? '',
    protocol: `HTTP/${i.req.httpVersion}`,
    scheme: 'http',
    authority: i.authority,
    requestHeaders: i.req.headers,
    responseHeaders: undefined,
    // The client's id when it sent one (as Envoy logs it); tunnels and refusals generate none.
    requestId: headerValue(i.req.headers['x-request-id']),
    status: i.status,
    responseFlags: i.flags,
    responseCodeDetails: i.details,
    bytesReceived: i.bytesReceived ?? 0,
    bytesSent: i.bytesSent ?? 0,
    upstreamHost: i.upstreamHost,
    upstreamCluster: i.decision?.cluster,
    upstreamServiceTimeMs: undefined,
    // Istio reports blocked and unknown destinations under these cluster names, and dashboards
    // query destination_service for them.
    destinationService:
      i.decision === undefined
        ? undefined
        : i.decision.cluster === BLACK_HOLE_CLUSTER || i.decision.cluster === PASSTHROUGH_CLUSTER
          ? i.decision.cluster
          : i.decision.host,
    routeName: undefined,
    listener: i.listener,
    downstreamRemoteAddress: `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`,
    downstreamLocalAddress: `${socket.localAddress ?? ''}:${socket.localPort ?? 0}`,
    requestedServerName: undefined,
  }
}

/** 502 for plain HTTP (Istio's REGISTRY_ONLY status), naming the reason in a header and body. */
export function replyHttpDenied(
  res: ServerResponse,
  status: number,
  d: EgressDecision,
  reason: string,
): number {
  const body = Buffer.from(denialBody(d, reason))
  res.writeHead(status, {
    'content-type': 'text/plain',
    'content-length': body.length,
    [EGRESS_HEADER]: status === 503 ? 'error' : 'denied',
    [EGRESS_REASON_HEADER]: reason,
  })
  res.end(body)
  return body.length
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

function headerValue(v: string | string[] | undefined): string {
  return (Array.isArray(v) ? v[0] : v) ?? ''
}
