/**
 * The tunnel end: a WebSocket upgrade, after the same steps as any request, goes to one
 * endpoint with the usual forwarding headers, and once the upstream answers 101 the two
 * sockets are piped until either side closes or the tunnel is idle. Frames are never parsed,
 * so extensions and compression are negotiated end to end. No retries (Envoy does not retry
 * upgrades either); failures before the upstream answered are 503 responses on the socket.
 */
import { connect as netConnect } from 'node:net'
import type { Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { ClusterRuntime } from '../upstream/cluster-runtime.js'
import type { UpstreamEndpoint } from '../upstream/endpoint.js'
import type { RequestContext } from './context.js'
import { isRefusedEgressEndpoint } from './egress-address.js'
import { Flag } from '../record/flags.js'
import { LocalReplyBody, sendLocalReply } from './local-reply.js'
import { setAttemptCount } from './request-headers.js'
import { upstreamPath } from './upstream-head.js'

/** Envoy's stream idle timeout; a cluster's connectionPool idleTimeout replaces it. */
const TUNNEL_IDLE_TIMEOUT_MS = 300_000
/** Largest upstream response head accepted (as for proxied responses). */
const MAX_HEAD_BYTES = 64 * 1024
const HEAD_END = Buffer.from('\r\n\r\n')

export function openTunnel(ctx: RequestContext, head: Buffer): void {
  const cluster = ctx.holds.admittedBy
  const headers = ctx.upstreamHeaders
  const downstream = ctx.res.socket
  if (cluster === undefined || headers === undefined || downstream === null) {
    throw new Error('tunnel reached without admission, upstream head or socket')
  }
  const endpoint = cluster.pick(ctx.hash)
  if (endpoint === undefined) {
    sendLocalReply(ctx, 503, Flag.UH, 'no_healthy_upstream', LocalReplyBody.noHealthyUpstream)
    return
  }
  if (isRefusedEgressEndpoint(ctx, endpoint)) return
  ctx.upstreamHost = endpoint.address
  ctx.attempt = 1
  setAttemptCount(headers, 1)
  headers.push('connection', 'upgrade', 'upgrade', 'websocket')
  let text = `${ctx.method} ${upstreamPath(ctx)} HTTP/1.1\r\n`
  for (let i = 0; i + 1 < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`
  const request = Buffer.concat([Buffer.from(`${text}\r\n`), head])
  connectTunnel(ctx, cluster, endpoint, downstream, request)
}

function connectTunnel(
  ctx: RequestContext,
  cluster: ClusterRuntime,
  endpoint: UpstreamEndpoint,
  downstream: Socket,
  request: Buffer,
): void {
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
  let pending: Buffer = Buffer.alloc(0)
  const onHead = (chunk: Buffer): void => {
    pending = Buffer.concat([pending, chunk])
    const end = pending.indexOf(HEAD_END)
    if (end < 0) {
      if (pending.length > MAX_HEAD_BYTES) upstream.destroy(new Error('upstream head too large'))
      return
    }
    upstream.off('data', onHead)
    const rest = pending.subarray(end + HEAD_END.length)
    const { status, headers } = parseHead(pending.subarray(0, end).toString('latin1'))
    relay(ctx, cluster, endpoint, upstream, downstream, status, headers, rest)
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
        'upstream_reset_before_response_started{connection_failure}',
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
        'upstream_reset_before_response_started{connection_termination}',
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
  cluster: ClusterRuntime,
  endpoint: UpstreamEndpoint,
  upstream: Socket,
  downstream: Socket,
  status: number,
  headers: string[],
  rest: Buffer,
): void {
  cluster.reportStatus(endpoint, status)
  ctx.details = 'via_upstream'
  // CORS and RateLimit headers go on the switch as on any response.
  if (ctx.extraResponseHeaders !== undefined) headers.push(...ctx.extraResponseHeaders)
  ctx.responseHeaders = headers
  const res = ctx.res
  res.writeHead(status, headers)
  res.flushHeaders()
  if (rest.length > 0) {
    ctx.bytesSent += rest.length
    downstream.write(rest)
  }
  const idle = cluster.cluster.policy?.connectionPool?.idleTimeoutMs || TUNNEL_IDLE_TIMEOUT_MS
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
    const line = lines[i] ?? ''
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    headers.push(line.slice(0, colon).trim(), line.slice(colon + 1).trim())
  }
  return { status, headers }
}
