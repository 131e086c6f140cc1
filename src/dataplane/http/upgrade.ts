/**
 * HTTP/1.1 Upgrade requests. A WebSocket upgrade is a request that ends in a tunnel: it runs the
 * same steps as any request (order.ts: overload, virtual host, httpsRedirect, route, CORS, rate
 * limits, redirects and direct responses, faults, the circuit breaker, the egress address
 * check), and tunnel.ts is its end. Local replies go out as HTTP responses on the socket. Only
 * `websocket` is upgraded. One access-log record when the tunnel (or the reply) closes.
 */
import type { IncomingMessage } from 'node:http'
import { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { PreparedSnapshot } from '../prepared.js'
import type { ListenerContext } from '../types.js'
import { RequestContext } from './context.js'
import type { HandlerEnv } from './context.js'
import { replyToBug, sendLocalReply } from './local-reply.js'
import { runRequestSteps } from './order.js'
import { buildRequestRecord } from '../record/http-record.js'

export type UpgradeHandler = (
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  prepared: PreparedSnapshot,
  listener: ListenerContext,
) => void

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
    // The socket is the tunnel's or closes after a reply: never kept alive.
    res.shouldKeepAlive = false
    try {
      ctx = new RequestContext(req, res, prepared, listener, env, head)
      const tunnelCtx = ctx
      res.once('close', () => finish(tunnelCtx))
      if (!isWebSocketUpgrade(req)) {
        sendLocalReply(ctx, 403, 0, 'upgrade_failed')
        return
      }
      runRequestSteps(ctx)
    } catch (err) {
      replyToBug(env, ctx, res, err)
    }
  }
}

/** Gives back what the upgrade held and writes its one record. */
function finish(ctx: RequestContext): void {
  if (ctx.closed) return
  ctx.closed = true
  try {
    ctx.holds.release()
    ctx.env.observer.onRequestComplete(buildRequestRecord(ctx))
  } catch (err) {
    ctx.env.log.error('upgrade completion failed', { requestId: ctx.requestId, err })
  }
}

function ignore(): void {
  // Errors on a tunnel socket end the tunnel through 'close'.
}
