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
  readonly pinned: Pinned | undefined
  /** A listener bound for this snapshot (the port or address moved); undefined keeps the old. */
  readonly listener: HttpListener<Pinned> | undefined
}

export interface OutboundProxy {
  /**
   * Binds the listener this snapshot asks for when it differs from the serving one; the serving
   * listener keeps serving the old snapshot until activate. Throws (binding nothing) when the
   * port cannot be bound.
   */
  prepare(prepared: PreparedSnapshot): Promise<PreparedOutbound>
  /** Serves the prepared snapshot; a listener the snapshot no longer has stops accepting. */
  activate(change: PreparedOutbound): void
  /** Closes what prepare bound; the serving listener and snapshot stay. */
  abort(change: PreparedOutbound): Promise<void>
  /** The bound port, once listening (0 otherwise). */
  readonly port: number
  close(): Promise<void>
}

export function createOutboundProxy(deps: OutboundProxyDeps): OutboundProxy {
  let serving: HttpListener<Pinned> | undefined
  let bound: ir.OutboundListener | undefined
  /** Every listener still open (serving, prepared, or draining). */
  const open = new Set<HttpListener<Pinned>>()
  const pin = (prepared: PreparedSnapshot): Pinned | undefined =>
    pinOutbound(prepared, deps.dnsServers)

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
      const pinned = pin(prepared)
      const want = pinned?.outbound
      if (want === undefined || (bound !== undefined && bound.id === want.id)) {
        return { pinned, listener: undefined }
      }
      return { pinned, listener: await bind(want, prepared) }
    },
    activate(change) {
      const pinned = change.pinned
      const want = pinned?.outbound
      if (change.listener === undefined && want !== undefined && bound?.id === want.id) {
        serving?.applyLimits(pinned!.prepared.snapshot.settings.downstream)
        serving?.serve(createServeView(pinned!, pinned!.prepared.snapshot.settings))
        return
      }
      const old = serving
      serving = change.listener
      bound = change.listener !== undefined ? want : undefined
      if (serving !== undefined && pinned !== undefined) {
        serving.serve(createServeView(pinned, pinned.prepared.snapshot.settings))
      }
      if (old !== undefined) void retire(old, false)
    },
    async abort(change) {
      if (change.listener !== undefined) await retire(change.listener, true)
    },
    get port() {
      return bound?.port ?? 0
    },
    async close() {
      const all = [...open]
      serving = undefined
      bound = undefined
      await Promise.all(all.map((l) => retire(l, true)))
    },
  }
}
