/**
 * The outbound proxy listener (GatewayConfig.spec.outbound): clients set HTTP_PROXY/HTTPS_PROXY
 * to it. It is a listener of the front door like every Gateway port (accept, PROXY protocol,
 * connection caps, the request guard, recorded refusals), bound and swapped here per snapshot.
 * Its HTTP requests enter the one request path at the egress decision (outbound-http.ts); its
 * CONNECT tunnels are decided and piped in outbound-connect.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type * as ir from '../../ir/index.js'
import type { Logger } from '../../lib/index.js'
import type { EgressObserver, RequestObserver } from '../../observe/events.js'
import type { HttpHandler } from '../http/handler.js'
import type { ListenerHooks, RequestHandler } from '../listeners/front-types.js'
import { bindHttpListener, type HttpListener } from '../listeners/http-listener.js'
import { createServeView } from '../listeners/serve-view.js'
import type { PreparedSnapshot } from '../prepared.js'
import { serveConnect } from './outbound-connect.js'
import { serveOutboundRequest } from './outbound-http.js'
import { pinOutbound, type Pinned } from './outbound-pin.js'

export type { Pinned } from './outbound-pin.js'

export interface OutboundProxyDeps {
  readonly handler: HttpHandler
  readonly observer: RequestObserver
  readonly log: Logger
  /** Told every allowlist decision (metrics, the admin API's recent destinations). */
  readonly egress?: EgressObserver
  /** Overrides GatewayConfig dns.servers (tests point it at a loopback DNS server). */
  readonly dnsServers?: readonly string[]
  /** What the front door reports for this listener as for any other (refusals, errors, caps). */
  readonly front?: Pick<
    ListenerHooks<unknown>,
    'onConnectionRefused' | 'sharedCaps' | 'connectionErrors'
  >
}

/** What prepare bound for one snapshot, waiting for activate (or abort). */
export interface PreparedOutbound {
  /** One view per outbound listener of the snapshot (none when it has no outbound side). */
  readonly views: readonly Pinned[]
  /** Listeners bound for this snapshot (ports or addresses new to it); the others keep serving. */
  readonly bound: ReadonlyMap<ir.ListenerId, HttpListener<Pinned>>
}

export interface OutboundProxy {
  /**
   * Binds the listeners this snapshot has and the serving set lacks; the serving listeners keep
   * serving the old snapshot until activate. Throws (leaving nothing bound) when a port cannot
   * be bound.
   */
  prepare(prepared: PreparedSnapshot): Promise<PreparedOutbound>
  /** Serves the prepared snapshot; a listener the snapshot no longer has stops accepting. */
  activate(change: PreparedOutbound): void
  /** Closes what prepare bound; the serving listeners and snapshot stay. */
  abort(change: PreparedOutbound): Promise<void>
  /** The ports of the serving listeners, in snapshot order (none before the first activate). */
  readonly ports: readonly number[]
  close(): Promise<void>
}

export function createOutboundProxy(deps: OutboundProxyDeps): OutboundProxy {
  /** The listeners serving the active snapshot, by listener id. */
  let serving = new Map<ir.ListenerId, HttpListener<Pinned>>()
  let servingPorts: readonly number[] = []
  /** Every listener still open (serving, prepared, or draining). */
  const open = new Set<HttpListener<Pinned>>()
  const pin = (prepared: PreparedSnapshot): Pinned[] => pinOutbound(prepared, deps.dnsServers)

  const handler: RequestHandler<Pinned> = Object.assign(
    (req: IncomingMessage, res: ServerResponse, p: Pinned) =>
      serveOutboundRequest(deps.handler, deps.observer, req, res, p),
    {
      connect: (req: IncomingMessage, socket: Socket, head: Buffer, p: Pinned) =>
        serveConnect(deps, req, socket, head, p),
    },
  )
  const hooks: ListenerHooks<Pinned> = {
    handler,
    observer: deps.observer,
    log: deps.log,
    ...deps.front,
  }

  /**
   * A listener of the front door like every Gateway port: the same accept, PROXY protocol,
   * downstream connection caps, timeouts, request guard and recorded local replies.
   */
  async function bind(
    want: ir.OutboundListener,
    prepared: PreparedSnapshot,
  ): Promise<HttpListener<Pinned>> {
    const listener = await bindHttpListener<Pinned>(
      {
        id: want.id,
        address: want.address,
        port: want.port,
        transport: 'http',
        servers: [],
        chains: [],
      },
      prepared.snapshot.settings.downstream,
      hooks,
    )
    open.add(listener)
    return listener
  }

  /** Stops accepting; with `isFinal` open connections and tunnels end now. */
  async function retire(listener: HttpListener<Pinned>, isFinal: boolean): Promise<void> {
    listener.beginDrain()
    if (isFinal) listener.destroyConnections()
    await listener.emptied
    listener.dispose()
    open.delete(listener)
  }

  return {
    async prepare(prepared) {
      const views = pin(prepared)
      const bound = new Map<ir.ListenerId, HttpListener<Pinned>>()
      try {
        for (const view of views) {
          if (serving.has(view.outbound.id)) continue
          bound.set(view.outbound.id, await bind(view.outbound, prepared))
        }
      } catch (e) {
        await Promise.all([...bound.values()].map((l) => retire(l, true)))
        throw e
      }
      return { views, bound }
    },
    activate(change) {
      const next = new Map<ir.ListenerId, HttpListener<Pinned>>()
      const ports: number[] = []
      for (const view of change.views) {
        const id = view.outbound.id
        const fresh = change.bound.get(id)
        const listener = fresh ?? serving.get(id)
        if (listener === undefined) continue
        const settings = view.prepared.snapshot.settings
        if (fresh === undefined) listener.applyLimits(settings.downstream)
        listener.serve(createServeView(view, settings))
        next.set(id, listener)
        ports.push(view.outbound.port)
      }
      // Ports the snapshot no longer lists stop accepting; their connections finish.
      for (const [id, old] of serving) if (!next.has(id)) void retire(old, false)
      serving = next
      servingPorts = ports
    },
    async abort(change) {
      await Promise.all([...change.bound.values()].map((l) => retire(l, true)))
    },
    get ports() {
      return servingPorts
    },
    async close() {
      const all = [...open]
      serving = new Map()
      servingPorts = []
      await Promise.all(all.map((l) => retire(l, true)))
    },
  }
}
