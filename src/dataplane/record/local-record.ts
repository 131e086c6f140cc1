/**
 * Records of requests answered outside the request path: a listener's refusals before routing
 * and the outbound proxy's own answers (egress denials, direct forwards, CONNECT tunnels). One
 * builder, so every such line has the same fields as a routed request's: a request id, bracketed
 * IPv6 addresses read while the socket was open, Envoy's protocol names, real byte counts.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http'
import type { RequestRecord } from '../../observe/events.js'
import { protocolName, type SocketAddresses } from './address.js'
import { formatFlags } from './flags.js'

/** The request line and head, as far as they are known (a parser failure knows none). */
export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly protocol: string
  readonly authority: string
  readonly headers: IncomingHttpHeaders
}

export function describeMessage(req: IncomingMessage): RecordedRequest {
  const headers = req.headers
  return {
    method: req.method ?? '',
    path: req.url ?? '',
    protocol: protocolName(req.httpVersion),
    authority: headers.host ?? '',
    headers,
  }
}

export const UNPARSED: RecordedRequest = Object.freeze({
  method: '',
  path: '',
  protocol: '',
  authority: '',
  headers: Object.freeze({}),
})

export interface LocalRecordInput {
  readonly request: RecordedRequest
  /** Epoch milliseconds when the request arrived. */
  readonly startTime: number
  readonly listener: string
  readonly scheme: 'http' | 'https'
  /** Read when the connection was accepted or the request arrived, never after close. */
  readonly addresses: SocketAddresses
  readonly status: number
  /** Flag bits (flags.ts). */
  readonly flags: number
  readonly details: string
  /** Overrides the Host the request named (CONNECT's target, an absolute URL's authority). */
  readonly authority?: string
  readonly responseHeaders?: OutgoingHttpHeaders
  readonly bytesReceived?: number
  readonly bytesSent?: number
  readonly upstreamHost?: string
  readonly upstreamCluster?: string
  readonly destinationService?: string
  readonly requestedServerName?: string
}

/** The client's x-request-id when it sent one (as Envoy keeps it), else a fresh one. */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  const v = headers['x-request-id']
  const id = Array.isArray(v) ? v[0] : v
  return id === undefined || id === '' ? randomUUID() : id
}

export function buildLocalRecord(i: LocalRecordInput): RequestRecord {
  const r = i.request
  return {
    startTime: i.startTime,
    durationMs: Math.max(0, Date.now() - i.startTime),
    method: r.method,
    path: r.path,
    protocol: r.protocol,
    scheme: i.scheme,
    authority: i.authority ?? r.authority,
    requestHeaders: r.headers,
    responseHeaders: i.responseHeaders,
    requestId: requestIdOf(r.headers),
    status: i.status,
    responseFlags: formatFlags(i.flags),
    responseCodeDetails: i.details,
    bytesReceived: i.bytesReceived ?? 0,
    bytesSent: i.bytesSent ?? 0,
    upstreamHost: i.upstreamHost,
    upstreamCluster: i.upstreamCluster,
    upstreamServiceTimeMs: undefined,
    destinationService: i.destinationService,
    routeName: undefined,
    listener: i.listener,
    downstreamRemoteAddress: i.addresses.remote,
    downstreamLocalAddress: i.addresses.local,
    requestedServerName: i.requestedServerName,
  }
}
