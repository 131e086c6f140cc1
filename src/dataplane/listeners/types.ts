/** The listener layer's contract with runtime/ (which drives it) and http/ (which it calls). */
import type * as ir from '../../ir/index.js'
import type { Logger } from '../../lib/index.js'
import type { ConnectionObserver, RequestObserver } from '../../observe/events.js'
import type { RequestHandler } from './http-listener.js'
import type { SharedConnectionCaps } from './connection-caps.js'
import type { L4Support } from './l4-listener.js'

export type { RequestHandler } from './http-listener.js'

export interface ListenerManagerDeps<P extends { readonly snapshot: ir.Snapshot }> {
  /**
   * Serves one request that passed the listener's checks. `prepared` is the snapshot pinned
   * when the request arrived; `listener` is built once per listener. `Expect: 100-continue` has
   * already been answered. Must not throw (a throw is logged and answered 500).
   */
  readonly handler: RequestHandler<P>
  /** Receives one record per request the listener refuses itself (flag DPE). */
  readonly observer: RequestObserver
  readonly log: Logger
  /** Connections closed by an error on them (counted; logged rate-bounded). */
  readonly connections?: ConnectionObserver
  /**
   * Called once per activated snapshot when no new request can start on it any more: it is no
   * longer current and every listener that still served from it has drained. Requests already
   * running may still use it. After `drain`, every activated snapshot has been retired.
   */
  readonly onRetired?: (prepared: P) => void
  /** TLS and TCP listeners; without it they are skipped (logged). */
  readonly l4?: L4Support<P>
  /** Egress SNI ports (snapshot.egress.sniListeners); without it they are not bound. */
  readonly sniEgress?: L4Support<P>
  /**
   * GatewayConfig downstream caps held across replicas (Redis) or workers (the primary's
   * store) through this limiter; without it they are per process.
   */
  readonly sharedCaps?: SharedConnectionCaps
  /** A connection closed at accept over GatewayConfig downstream.maxConnections(PerClient). */
  readonly onConnectionRefused?: (
    listener: string,
    reason: 'max_connections' | 'max_connections_per_client',
  ) => void
}

/** The outcome of `prepare`: listeners bound and waiting for `activate` (or `abort`). */
export interface PreparedListeners {
  /** Bound by this prepare. */
  readonly added: readonly ir.ListenerId[]
  /** Already bound; their servers are reused. */
  readonly kept: readonly ir.ListenerId[]
  /** Bound now but absent from the next snapshot: drained on activate. */
  readonly removed: readonly ir.ListenerId[]
  /** Transports not served yet (tls, tcp): logged and left unbound. */
  readonly skipped: readonly ir.ListenerId[]
}

export interface ListenerStats {
  /** Listeners bound and accepting. */
  readonly listeners: number
  /** Open downstream connections, including those of listeners that are draining. */
  readonly connections: number
  /** Requests handed to the handler whose response has not finished. */
  readonly inflight: number
}

export interface ListenerManager<P extends { readonly snapshot: ir.Snapshot }> {
  /**
   * Binds the listeners of `next` that are not bound yet (same id = the bound server is reused).
   * Nothing changes for traffic: connections to a new port wait for `activate`. On any bind
   * error (EADDRINUSE, EACCES) closes what it bound and rejects with a ListenerBindError naming
   * the address and port. One reload at a time: prepare again only after activate or abort.
   */
  prepare(next: P): Promise<PreparedListeners>
  /**
   * From now on new requests on every listener of `next` see `next`; requests in flight finish
   * on the snapshot they started with. Listeners absent from `next` stop accepting and drain
   * (in-flight requests finish, idle keep-alives close, the rest is closed at drainTimeoutMs).
   */
  activate(prepared: PreparedListeners): void
  /** Closes what `prepare` bound; the current snapshot keeps serving. */
  abort(prepared: PreparedListeners): Promise<void>
  readonly current: P | undefined
  /** True when every served listener of the current snapshot is bound and accepting. */
  readonly ready: boolean
  /**
   * Shutdown: stop accepting on all listeners; HTTP/1 responses get `Connection: close`; idle
   * keep-alive connections close at once; in-flight requests finish. Resolves when no connection
   * is left, or at `timeoutMs` after destroying what remains (that count is returned).
   */
  drain(timeoutMs: number): Promise<{ forcedConnections: number }>
  stats(): ListenerStats
}
