import { performance } from 'node:perf_hooks'
import type { RequestRecord } from '../../observe/events.js'
import type { RequestContext } from './context.js'
import { formatFlags } from './flags.js'
import { peerIp } from './forwarded.js'

const PROTOCOLS: Readonly<Record<string, string>> = {
  '1.1': 'HTTP/1.1',
  '1.0': 'HTTP/1.0',
  '2.0': 'HTTP/2',
}

/** The one record of a finished exchange, built when the downstream response closes. */
export function buildRequestRecord(ctx: RequestContext): RequestRecord {
  const req = ctx.req
  const res = ctx.res
  const route = ctx.route
  const dest = ctx.destination
  return {
    startTime: ctx.startTime,
    durationMs: performance.now() - ctx.startMark,
    method: ctx.method,
    path: req.url ?? '/',
    protocol: PROTOCOLS[req.httpVersion] ?? `HTTP/${req.httpVersion}`,
    scheme: ctx.scheme,
    authority: ctx.authority,
    requestHeaders: req.headers,
    responseHeaders: ctx.responseHeaders,
    requestId: ctx.requestId,
    status: res.headersSent ? res.statusCode : 0,
    responseFlags: formatFlags(ctx.flags),
    responseCodeDetails: ctx.details,
    bytesReceived: ctx.bytesReceived,
    bytesSent: ctx.bytesSent,
    upstreamHost: ctx.upstreamHost,
    upstreamCluster: dest?.clusterId,
    upstreamServiceTimeMs: ctx.upstreamServiceTimeMs,
    destinationService: dest?.service,
    routeName: route?.logName,
    listener: ctx.listener.id,
    downstreamRemoteAddress: hostPort(ctx.peer, ctx.peerPort),
    downstreamLocalAddress: hostPort(peerIp(ctx.localAddress), ctx.localPort),
    requestedServerName: ctx.serverName,
  }
}

function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`
}
