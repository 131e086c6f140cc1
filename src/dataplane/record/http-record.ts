/**
 * The record of a finished HTTP exchange that went through the request path, built when the
 * downstream response closes. record/ knows nothing of http/: it reads the request context
 * through HttpExchange, the fields a record needs, which RequestContext has.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http'
import { performance } from 'node:perf_hooks'
import type { RequestRecord } from '../../observe/events.js'
import { formatAddress, protocolName } from './address.js'
import { formatFlags } from './flags.js'
import { headerListToObject } from './header-list.js'

/** What the request path knows about one exchange when it ends (RequestContext). */
export interface HttpExchange {
  readonly req: IncomingMessage
  readonly res: { readonly headersSent: boolean; readonly statusCode: number }
  readonly listener: { readonly id: string }
  readonly startTime: number
  /** performance.now() at the start, for the duration. */
  readonly startMark: number
  readonly requestId: string
  readonly method: string
  readonly scheme: 'http' | 'https'
  readonly authority: string
  readonly peer: string
  readonly peerPort: number
  readonly localAddress: string
  readonly localPort: number
  readonly serverName: string | undefined
  readonly route: { readonly logName: string | undefined } | undefined
  readonly destination: { readonly clusterId: string; readonly service: string } | undefined
  /** Response flags as bits (flags.ts). */
  readonly flags: number
  readonly details: string
  readonly upstreamHost: string | undefined
  readonly transportFailure: string | undefined
  readonly upstreamServiceTimeMs: number | undefined
  readonly responseHeaders: readonly string[] | undefined
  /** grpc-status the upstream sent in trailers, if any. */
  readonly grpcStatus?: string | undefined
  readonly bytesSent: number
  readonly bytesReceived: number
  /** The request's span, if tracing started one: it ends here, with the record. */
  readonly trace?: { end(record: RequestRecord): void } | undefined
}

/**
 * Fields most observers never read (addresses, the response head as an object) are computed on
 * first read, so metrics-only setups do not pay for them.
 */
class HttpRequestRecord implements RequestRecord {
  readonly startTime: number
  readonly durationMs: number
  readonly method: string
  readonly path: string
  readonly protocol: string
  readonly scheme: 'http' | 'https'
  readonly authority: string
  readonly requestHeaders: IncomingHttpHeaders
  readonly requestId: string
  readonly status: number
  readonly responseFlags: string
  readonly responseCodeDetails: string
  readonly bytesReceived: number
  readonly bytesSent: number
  readonly upstreamHost: string | undefined
  readonly upstreamCluster: string | undefined
  readonly upstreamServiceTimeMs: number | undefined
  readonly destinationService: string | undefined
  readonly routeName: string | undefined
  readonly listener: string
  readonly requestedServerName: string | undefined
  readonly upstreamTransportFailureReason: string | undefined
  readonly grpcStatus: string | undefined
  readonly #ctx: HttpExchange
  #responseHeaders: OutgoingHttpHeaders | undefined

  constructor(ctx: HttpExchange) {
    const req = ctx.req
    const res = ctx.res
    this.#ctx = ctx
    this.startTime = ctx.startTime
    this.durationMs = performance.now() - ctx.startMark
    this.method = ctx.method
    this.path = req.url ?? '/'
    this.protocol = protocolName(req.httpVersion)
    this.scheme = ctx.scheme
    this.authority = ctx.authority
    this.requestHeaders = req.headers
    this.requestId = ctx.requestId
    this.status = res.headersSent ? res.statusCode : 0
    this.responseFlags = formatFlags(ctx.flags)
    this.responseCodeDetails = ctx.details
    this.bytesReceived = ctx.bytesReceived
    this.bytesSent = ctx.bytesSent
    this.upstreamHost = ctx.upstreamHost
    this.upstreamCluster = ctx.destination?.clusterId
    this.upstreamServiceTimeMs = ctx.upstreamServiceTimeMs
    this.destinationService = ctx.destination?.service
    this.routeName = ctx.route?.logName
    this.listener = ctx.listener.id
    this.requestedServerName = ctx.serverName
    this.upstreamTransportFailureReason = ctx.transportFailure
    this.grpcStatus = ctx.grpcStatus
  }

  get responseHeaders(): OutgoingHttpHeaders | undefined {
    const list = this.#ctx.responseHeaders
    if (list === undefined) return undefined
    return (this.#responseHeaders ??= headerListToObject(list))
  }

  get downstreamRemoteAddress(): string {
    return formatAddress(this.#ctx.peer, this.#ctx.peerPort)
  }

  get downstreamLocalAddress(): string {
    return formatAddress(this.#ctx.localAddress, this.#ctx.localPort)
  }

  /** Plain-object view (JSON, structured logs), lazy fields included. */
  toJSON(): RequestRecord {
    return {
      startTime: this.startTime,
      durationMs: this.durationMs,
      method: this.method,
      path: this.path,
      protocol: this.protocol,
      scheme: this.scheme,
      authority: this.authority,
      requestHeaders: this.requestHeaders,
      responseHeaders: this.responseHeaders,
      requestId: this.requestId,
      status: this.status,
      responseFlags: this.responseFlags,
      responseCodeDetails: this.responseCodeDetails,
      bytesReceived: this.bytesReceived,
      bytesSent: this.bytesSent,
      upstreamHost: this.upstreamHost,
      upstreamCluster: this.upstreamCluster,
      upstreamServiceTimeMs: this.upstreamServiceTimeMs,
      destinationService: this.destinationService,
      routeName: this.routeName,
      listener: this.listener,
      downstreamRemoteAddress: this.downstreamRemoteAddress,
      downstreamLocalAddress: this.downstreamLocalAddress,
      requestedServerName: this.requestedServerName,
      upstreamTransportFailureReason: this.upstreamTransportFailureReason,
      grpcStatus: this.grpcStatus,
    }
  }
}

export function buildRequestRecord(ctx: HttpExchange): RequestRecord {
  const record = new HttpRequestRecord(ctx)
  ctx.trace?.end(record)
  return record
}
