/**
 * The passthrough forward end: an allowed egress destination no route serves (a wildcard or
 * `resolution: NONE` host, ALLOW_ANY, audit mode) goes to the requested name and port, like
 * Istio's PassthroughCluster. The name is resolved once, the answer passes the address check,
 * and the checked address is the one connected to; the response streams back on the request's
 * own context, so the record, request id, timeouts and drain are those of any request.
 */
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http'
import type { EgressDecision } from '../../match/index.js'
import { formatAddress } from '../record/address.js'
import { Flag } from '../record/flags.js'
import { resolveChecked } from '../upstream/resolve-checked.js'
import type { RequestContext } from './context.js'
import {
  egressDestinationOf,
  observeEgress,
  replyEgressDenied,
  type EgressSite,
} from './egress-outcome.js'
import { replyToBug } from './local-reply.js'

export function forwardPassthrough(ctx: RequestContext, site: EgressSite, d: EgressDecision): void {
  ctx.destination = egressDestinationOf(d)
  void resolveChecked(site.matcher, site.resolver, d).then(
    (checked) => {
      try {
        observeEgress(ctx, 'error' in checked ? d : checked.decision, 'http')
        if (ctx.closed) return
        if ('error' in checked) {
          replyEgressDenied(ctx, 503, d, checked.error)
          return
        }
        const verdict = checked.decision
        if (verdict.verdict === 'denied') {
          replyEgressDenied(ctx, 502, verdict, verdict.reason ?? 'denied')
          return
        }
        connectUpstream(ctx, verdict, checked.address, checked.port)
      } catch (err) {
        replyToBug(ctx.env, ctx, ctx.res, err)
      }
    },
    (err: unknown) => replyToBug(ctx.env, ctx, ctx.res, err),
  )
}

function connectUpstream(
  ctx: RequestContext,
  d: EgressDecision,
  address: string,
  port: number,
): void {
  const req = ctx.req
  const headers: OutgoingHttpHeaders = { ...req.headers }
  delete headers['proxy-connection']
  delete headers['proxy-authorization']
  ctx.upstreamHost = formatAddress(address, port)
  ctx.attempt = 1
  const up = httpRequest({
    host: address,
    port,
    method: ctx.method,
    path: req.url,
    headers,
    setHost: false,
  })
  req.on('data', (chunk: Buffer) => (ctx.bytesReceived += chunk.length))
  ctx.res.once('close', () => up.destroy())
  up.on('response', (ur: IncomingMessage) => onResponse(ctx, d, ur))
  up.on('error', () => {
    if (ctx.closed) return
    if (ctx.res.headersSent) {
      ctx.flags |= Flag.UC
      ctx.resetByGateway = true
      ctx.res.destroy()
      return
    }
    replyEgressDenied(ctx, 503, d, 'upstream_connect_failure')
  })
  req.pipe(up)
}

function onResponse(ctx: RequestContext, d: EgressDecision, ur: IncomingMessage): void {
  if (ctx.closed) {
    ur.destroy()
    return
  }
  const isAudited = d.verdict === 'audited'
  if (isAudited) ctx.flags |= Flag.EG
  ctx.details = isAudited ? `egress_audited:${d.reason}` : 'via_upstream'
  ctx.responseHeaders = ur.rawHeaders
  ctx.res.writeHead(ur.statusCode ?? 502, ur.headers)
  ur.on('data', (chunk: Buffer) => (ctx.bytesSent += chunk.length))
  ur.pipe(ctx.res)
}
