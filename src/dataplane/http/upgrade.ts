/**
 * HTTP/1.1 Upgrade (WebSocket) as a raw byte tunnel: the request is routed like any other (404
 * NR, 503 NC/UO/UH/UF as HTTP responses on the socket), sent to one endpoint with the usual
 * forwarding headers, and once the upstream answers 101 the two sockets are piped until either
 * side closes or the tunnel is idle. Frames are never parsed, so extensions and compression are
 * negotiated end to end. One access-log record when the tunnel closes. Only `websocket` is
 * upgraded; no retries (Envoy does not retry upgrades either).
 */
import type { IncomingMessage } from 'node:http'
import { ServerResponse } from 'node:http'
import { connect as netConnect } from 'node:net'
import type { Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { matchRoute, selectVirtualHost } from '../../match/index.js'
import { normalizeHost } from '../../lib/index.js'
import type { PreparedSnapshot } from '../prepare.js'
import type { ListenerContext } from '../types.js'
import type { UpstreamEndpoint } from '../upstream/endpoint.js'
import { RequestContext } from './context.js'
import type { HandlerEnv } from './context.js'
import { Flag } from '../record/flags.js'
import { Details, upstreamResetBeforeResponse } from '../record/details.js'
import { buildHeaders, pickDestination, upstreamPath } from './forward.js'
import { LocalReplyBody, replyToBug, sendLocalReply } from './local-reply.js'
import { shedOverloaded } from './overload-shed.js'
import { buildRequestRecord } from '../record/http-record.js'

export type UpgradeHandler = (
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  prepared: PreparedSnapshot,
  listener: ListenerContext,
) => void

/** Envoy's stream idle timeout; a cluster's connectionPool idleTimeout replaces it. */
const TUNNEL_IDLE_TIMEOUT_MS = 300_000
/** Largest upstream response head accepted (as for proxied responses). */
const MAX_HEAD_BYTES = 64 * 1024
const HEAD_END = Buffer.from('\r\n\r\n')

/** True when the request asks to switch to WebSocket (the one upgrade proxied). */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade
  return typeof upgrade === 'string' && upgrade.trim().toLowerCase() === 'websocket'
}

export function createUpgradeHandler(env: HandlerEnv): UpgradeHandler {
  return function handleUpgrade(req, socket, head, prepared, listener) {
    let ctx: RequestContext | undefined
    const res = new ServerResponse(req)
    res.assignSocket(socket)
    socket.on('error', ignore)
    // A local reply ends the exchange; the tunnel never finishes its response.
    res.once('finish', () => socket.destroySoon())
    try {
      ctx = new RequestContext(req, res, prepared, listener, env)
      const tunnelCtx = ctx
      res.once('close', () => finish(tunnelCtx))
      if (!isWebSocketUpgrade(req)) {
        res.shouldKeepAlive = false
        sendLocalReply(ctx, 403, 0, Details.upgradeFailed)
        return
      }
      const overload = env.overload
      if (overload !== undefined && overload.isOverloaded) {
        res.shouldKeepAlive = false
        shedOverloaded(ctx, overload)
        return
      }
      route(ctx, head)
    } catch (err) {
      replyToBug(env, ctx, res, err)
    }
  }
}

function route(ctx: RequestContext, head: Buffer): void {
  ctx.res.shouldKeepAlive = false
  const table = ctx.prepared.routeTables.get(ctx.listener.id)
  const vhost = table && selectVirtualHost(table, normalizeHost(ctx.authority) ?? '')
  const match = vhost && !vhost.requireTls ? matchRoute(vhost, ctx) : undefined
  const found = match && ctx.prepared.routes.get(match.route)
  if (match === undefined || found === undefined) {
    sendLocalReply(ctx, 404, Flag.NR, Details.routeNotFound)
    return
  }
  ctx.route = found
  ctx.matchIndex = match.matchIndex
  if (found.action.kind !== 'forward') {
    // A redirect or direct response cannot answer an upgrade meaningfully.
    sendLocalReply(ctx, 403, 0, Details.upgradeFailed)
    return
  }
  const dest = pickDestination(found)
  if (dest !== undefined) ctx.destination = dest
  const cluster = dest?.cluster
  if (cluster === undefined) {
    sendLocalReply(ctx, 503, Flag.NC, Details.clusterNotFound)
    return
  }
  if (!cluster.admit()) {
    sendLocalReply(ctx, 503, Flag.UO, 'overflow', LocalReplyBody.overflow, undefined, [
      'x-envoy-overloaded',
      'true',
    ])
    return
  }
  ctx.admittedBy = cluster
  const endpoint = cluster.pick(undefined)
  if (endpoint === undefined) {
    sendLocalReply(ctx, 503, Flag.UH, Details.noHealthyUpstream, LocalReplyBody.noHealthyUpstream)
    return
  }
  ctx.upstreamHost = endpoint.address
  ctx.attempt = 1
  const headers = buildHeaders(ctx, dest!)
  headers.push('connection', 'upgrade', 'upgrade', 'websocket')
  let text = `${ctx.method} ${upstreamPath(ctx, found)} HTTP/1.1\r\n`
  for (let i = 0; i + 1 < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`
  openTunnel(ctx, endpoint, Buffer.concat([Buffer.from(`${text}\r\n`), head]))
}

function openTunnel(ctx: RequestContext, endpoint: UpstreamEndpoint, request: Buffer): void {
  const cluster = ctx.admittedBy!
  const tls = cluster.tls
  const upstream: Socket =
    tls === undefined
      ? netConnect({ host: endpoint.ip, port: endpoint.port })
      : tlsConnect({
          host: endpoint.ip,
          port: endpoint.port,
          ...tls.connect,
          ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
          ALPNProtocols: ['http/1.1'],
        })
  const downstream = ctx.res.socket!
  const connectTimer = setTimeout(
    () => upstream.destroy(new Error('connect timeout')),
    cluster.cluster.connectTimeoutMs,
  )
  let connected = false
  upstream.once(tls === undefined ? 'connect' : 'secureConnect', () => {
    clearTimeout(connectTimer)
    connected = true
    upstream.write(request)
  })
  let pending: Buffer | undefined = Buffer.alloc(0)
  const onHead = (chunk: Buffer): void => {
    pending = Buffer.concat([pending!, chunk])
    const end = pending.indexOf(HEAD_END)
    if (end < 0) {
      if (pending.length > MAX_HEAD_BYTES) upstream.destroy(new Error('upstream head too large'))
      return
    }
    upstream.off('data', onHead)
    const rest = pending.subarray(end + HEAD_END.length)
    const { status, headers } = parseHead(pending.subarray(0, end).toString('latin1'))
    pending = undefined
    relay(ctx, endpoint, upstream, downstream, status, headers, rest)
  }
  upstream.on('data', onHead)
  upstream.on('error', (err: NodeJS.ErrnoException) => {
    clearTimeout(connectTimer)
    if (ctx.res.headersSent) return
    cluster.reportLocalFailure(endpoint)
    if (!connected) {
      ctx.env.log.warn('upgrade: upstream connect failed', {
        requestId: ctx.requestId,
        upstream: endpoint.address,
        err,
      })
      sendLocalReply(
        ctx,
        503,
        Flag.UF,
        upstreamResetBeforeResponse('connection_failure'),
        LocalReplyBody.connectFailure,
      )
    }
  })
  upstream.on('close', () => {
    clearTimeout(connectTimer)
    if (!ctx.res.headersSent) {
      sendLocalReply(
        ctx,
        503,
        Flag.UC,
        upstreamResetBeforeResponse('connection_termination'),
        LocalReplyBody.connectionTermination,
      )
    }
    downstream.destroySoon()
  })
  downstream.once('close', () => upstream.destroy())
}

/** The upstream answered: its head goes downstream, then bytes flow both ways. */
function relay(
  ctx: RequestContext,
  endpoint: UpstreamEndpoint,
  upstream: Socket,
  downstream: Socket,
  status: number,
  headers: string[],
  rest: Buffer,
): void {
  ctx.admittedBy!.reportStatus(endpoint, status)
  ctx.details = Details.viaUpstream
  ctx.responseHeaders = headers
  const res = ctx.res
  res.writeHead(status, headers)
  res.flushHeaders()
  if (rest.length > 0) {
    ctx.bytesSent += rest.length
    downstream.write(rest)
  }
  const idle =
    ctx.admittedBy!.cluster.policy?.connectionPool?.idleTimeoutMs || TUNNEL_IDLE_TIMEOUT_MS
  const onIdle = (): void => {
    upstream.destroy()
    downstream.destroy()
  }
  upstream.setTimeout(idle, onIdle)
  downstream.setTimeout(idle, onIdle)
  upstream.on('data', (c: Buffer) => {
    ctx.bytesSent += c.length
    upstream.setTimeout(idle)
    if (!downstream.write(c)) upstream.pause()
  })
  downstream.on('drain', () => upstream.resume())
  downstream.on('data', (c: Buffer) => {
    ctx.bytesReceived += c.length
    downstream.setTimeout(idle)
    if (!upstream.write(c)) downstream.pause()
  })
  upstream.on('drain', () => downstream.resume())
  upstream.on('end', () => downstream.end())
  downstream.on('end', () => upstream.end())
  downstream.resume()
}

function parseHead(text: string): { status: number; headers: string[] } {
  const lines = text.split('\r\n')
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 502)
  const headers: string[] = []
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    headers.push(line.slice(0, colon).trim(), line.slice(colon + 1).trim())
  }
  return { status, headers }
}

/** Releases the circuit-breaker slot and writes the one record of this upgrade. */
function finish(ctx: RequestContext): void {
  if (ctx.closed) return
  ctx.closed = true
  try {
    if (ctx.admittedBy !== undefined) ctx.admittedBy.inFlight--
    ctx.env.observer.onRequestComplete(buildRequestRecord(ctx))
  } catch (err) {
    ctx.env.log.error('upgrade completion failed', { requestId: ctx.requestId, err })
  }
}

function ignore(): void {
  // Errors on a tunnel socket end the tunnel through 'close'.
}
