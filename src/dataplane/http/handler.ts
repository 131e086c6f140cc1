import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from '../../lib/index.js'
import type { EgressObserver, RequestObserver } from '../../observe/events.js'
import type { PreparedSnapshot } from '../prepared.js'
import type { ListenerContext } from '../types.js'
import { createHostResolver, type HostResolver } from '../upstream/host-resolver.js'
import type { UpstreamRegistry } from '../upstream/registry.js'
import { answerAcmeChallenge, isAcmeChallenge } from './acme-challenge.js'
import type { AcmeChallengeResponder } from './acme-challenge.js'
import { CONTEXT, RequestContext } from './context.js'
import type { HandlerEnv } from './context.js'
import type { EgressSite } from './egress-route.js'
import { Flag } from '../record/flags.js'
import { Details } from '../record/details.js'
import { abandonUpstream, replyToBug, sendLocalReply } from './local-reply.js'
import { runEgressRequest, runRequestSteps } from './order.js'
import type { OverloadSignal } from './overload-signal.js'
import { buildRequestRecord } from '../record/http-record.js'
import { StreamTimeouts } from './stream-timeouts.js'
import { createUpgradeHandler } from './upgrade.js'
import type { UpgradeHandler } from './upgrade.js'

export interface HttpHandlerDeps {
  readonly observer: RequestObserver
  readonly log: Logger
  readonly upstreams: UpstreamRegistry
  /** The overload guard; without it requests are never shed. */
  readonly overload?: OverloadSignal
  /** Answers ACME http-01 challenges on plain-HTTP listeners before routing. */
  readonly acmeChallenges?: AcmeChallengeResponder
  /** Told every allowlist decision the request path makes. */
  readonly egress?: EgressObserver
  /** Overrides GatewayConfig dns.servers for passthrough destinations (tests). */
  readonly dnsServers?: readonly string[]
}

/**
 * Serves one request the listener layer has accepted (framing and headers already checked),
 * on the snapshot pinned when it arrived. Never throws. Every request ends with exactly one
 * observer.onRequestComplete, also when the client goes away first (status 0 or what was sent,
 * flag DC).
 */
export interface HttpHandler {
  (
    req: IncomingMessage,
    res: ServerResponse,
    prepared: PreparedSnapshot,
    listener: ListenerContext,
  ): void
  /** HTTP/1.1 Upgrade requests (WebSocket tunnels), after the same request guard. */
  readonly upgrade: UpgradeHandler
  /**
   * A request the outbound listener admitted (origin-form, Host naming the destination): the
   * same request path, entered at the egress decision instead of the listener's route table.
   */
  egress(
    req: IncomingMessage,
    res: ServerResponse,
    prepared: PreparedSnapshot,
    listener: ListenerContext,
    site: EgressSite,
  ): void
  /**
   * The listener refuses a request already being served (its body broke, or requestTimeout
   * passed) before the response started: the reply goes out and is recorded here.
   */
  reject(res: ServerResponse, rejection: RejectionReply, protocolError: boolean): boolean
}

/** What the listener answers with (its Rejection). */
export interface RejectionReply {
  readonly status: number
  readonly details: string
}

type WithContext = ServerResponse & { [CONTEXT]?: RequestContext }

export function createHttpHandler(deps: HttpHandlerDeps): HttpHandler {
  // One resolver per snapshot (its dns.servers), for passthrough destinations on httpPorts.
  const resolvers = new WeakMap<PreparedSnapshot, HostResolver>()
  const resolverFor = (prepared: PreparedSnapshot): HostResolver => {
    let resolver = resolvers.get(prepared)
    if (resolver === undefined) {
      const servers = deps.dnsServers ?? prepared.snapshot.egress?.dnsServers ?? []
      resolver = createHostResolver(servers.length > 0 ? { servers } : {})
      resolvers.set(prepared, resolver)
    }
    return resolver
  }
  const env: HandlerEnv = {
    observer: deps.observer,
    log: deps.log,
    timeouts: new StreamTimeouts(),
    resolverFor,
    ...(deps.overload !== undefined ? { overload: deps.overload } : {}),
    ...(deps.egress !== undefined ? { egress: deps.egress } : {}),
  }
  const acme = deps.acmeChallenges
  const serve = (
    req: IncomingMessage,
    res: ServerResponse,
    prepared: PreparedSnapshot,
    listener: ListenerContext,
    site: EgressSite | undefined,
  ): void => {
    let ctx: RequestContext | undefined
    try {
      ctx = new RequestContext(req, res, prepared, listener, env)
      ;(res as WithContext)[CONTEXT] = ctx
      res.on('close', onResponseClose)
      env.timeouts.track(ctx)
      if (site === undefined) runRequestSteps(ctx)
      else runEgressRequest(ctx, site)
    } catch (err) {
      replyToBug(env, ctx, res, err)
    }
  }
  const routeHttpRequest = (
    req: IncomingMessage,
    res: ServerResponse,
    prepared: PreparedSnapshot,
    listener: ListenerContext,
  ): void => serve(req, res, prepared, listener, undefined)
  const handleHttpRequest: typeof routeHttpRequest = (req, res, prepared, listener) => {
    if (acme !== undefined && isAcmeChallenge(req, listener.scheme)) {
      answerAcmeChallenge(req, res, acme, () => routeHttpRequest(req, res, prepared, listener))
    } else routeHttpRequest(req, res, prepared, listener)
  }
  return Object.assign(handleHttpRequest, {
    upgrade: createUpgradeHandler(env),
    egress: serve,
    reject: rejectInFlight,
  })
}

function rejectInFlight(
  res: ServerResponse,
  rejection: RejectionReply,
  protocolError: boolean,
): boolean {
  const ctx = (res as WithContext)[CONTEXT]
  if (ctx === undefined || ctx.closed || res.headersSent) return false
  try {
    abandonUpstream(ctx)
    res.shouldKeepAlive = false
    sendLocalReply(ctx, rejection.status, protocolError ? Flag.DPE : 0, rejection.details)
    return true
  } catch (err) {
    ctx.env.log.error('request rejection failed', { requestId: ctx.requestId, err })
    return false
  }
}

function onResponseClose(this: WithContext): void {
  const ctx = this[CONTEXT]
  if (ctx === undefined || ctx.closed) return
  ctx.closed = true
  ctx.env.timeouts.untrack(ctx)
  try {
    // Everything the request acquired goes back here, whichever way it ended.
    ctx.holds.release()
    if (!this.writableFinished && !ctx.resetByGateway) {
      ctx.flags |= Flag.DC
      if (!this.headersSent) ctx.details = Details.downstreamRemoteDisconnect
    }
    ctx.env.observer.onRequestComplete(buildRequestRecord(ctx))
  } catch (err) {
    ctx.env.log.error('request completion failed', { requestId: ctx.requestId, err })
  }
}
