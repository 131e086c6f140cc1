/**
 * What the front door promises its callers: the handler it hands admitted requests to, the view a
 * listener serves from, what a TLS acceptor delivers, and the listener handle the manager drives.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type * as ir from '../../ir/index.js'
import type { Logger } from '../../lib/index.js'
import type { RequestObserver } from '../../observe/events.js'
import type { ListenerContext } from '../types.js'
import type { ConnectionErrorReporter } from './connection-errors.js'
import type { ConnectionRefusal, SharedConnectionCaps } from './connection-caps.js'
import type { LocalReplyHeaders } from './local-reply.js'
import type { Rejection } from './rejections.js'
import type { GuardSettings } from './request-guard.js'

/** What a listener serves from, built once per activation and shared by its listeners. */
export interface ServeView<P> {
  readonly prepared: P
  readonly guard: GuardSettings
  readonly replyHeaders: LocalReplyHeaders
  /** What happens to the client's x-forwarded-client-cert (every listener kind). */
  readonly forwardClientCert: ir.ForwardClientCertDetails
}

export interface RequestHandler<P> {
  (req: IncomingMessage, res: ServerResponse, prepared: P, listener: ListenerContext): void
  /** HTTP/1.1 Upgrade requests; without it they are answered 403. */
  readonly upgrade?: UpgradeRequestHandler<P>
  /**
   * CONNECT requests (the outbound listener's tunnels), which then own the socket; without it
   * they are answered 405.
   */
  readonly connect?: UpgradeRequestHandler<P>
  /**
   * Node's parser failed or its request deadline passed while the request was with the handler
   * and its response had not started: the handler answers through its own reply path (so the
   * access log and metrics say what was sent) and ends the connection. False: it could not.
   */
  readonly reject?: (res: ServerResponse, rejection: Rejection, protocolError: boolean) => boolean
}

export type UpgradeRequestHandler<P> = (
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  prepared: P,
  listener: ListenerContext,
) => void

export interface ListenerHooks<P> {
  readonly handler: RequestHandler<P>
  readonly observer: RequestObserver
  readonly log: Logger
  /** A connection was closed at accept over the listener's downstream cap (metrics). */
  readonly onConnectionRefused?: (listener: string, reason: ConnectionRefusal) => void
  /** Downstream caps also held across replicas (or workers) through this limiter. */
  readonly sharedCaps?: SharedConnectionCaps
  /** Errors that close one connection (counted, logged rate-bounded); default: log only. */
  readonly connectionErrors?: ConnectionErrorReporter
}

/** A terminated TLS connection handed to HTTP processing, with what its chain says. */
export interface AcceptedConnection {
  readonly socket: Socket
  /** Scheme https and the chain's route table id. */
  readonly context: ListenerContext
  /** The chain's server hosts: a Host outside them gets 421. */
  readonly serverHosts: readonly string[]
  /**
   * The verified client certificate as x-forwarded-client-cert describes it; undefined when the
   * client presented none (the connection is not mutual TLS).
   */
  readonly clientCert: string | undefined
  /** The client certificate verified but is not one the server admits: requests get 403. */
  readonly forbidden?: string
}

/**
 * Takes every accepted socket of a TLS or TCP listener (it peeks, terminates, or proxies);
 * `deliver` hands a terminated connection to HTTP processing. `prepared` is what the listener
 * serves from at accept time (undefined before the first activation).
 */
export type ConnectionAcceptor<P> = (
  socket: Socket,
  prepared: P | undefined,
  deliver: (conn: AcceptedConnection) => void,
) => void

export interface HttpListener<P> {
  readonly context: ListenerContext
  readonly isListening: boolean
  readonly isDraining: boolean
  /** What new requests on this listener are served from (undefined until the first serve). */
  readonly servedFrom: P | undefined
  /**
   * Serve new requests from `view` from now on. Requests that arrived while the listener was
   * only bound (between prepare and activate) wait for the first call and are dispatched now.
   */
  serve(view: ServeView<P>): void
  applyLimits(limits: ir.DownstreamLimits): void
  /**
   * Stop accepting; close connections that have no request in progress; responses not started
   * yet get `Connection: close`, and connections close as their last response ends.
   */
  beginDrain(): void
  /** Resolves once draining and no connection is left. */
  readonly emptied: Promise<void>
  /** Destroys every remaining connection; returns how many there were. */
  destroyConnections(): number
  /** Releases timers; call after `emptied`. */
  dispose(): void
  stats(): { connections: number; inflight: number }
}
