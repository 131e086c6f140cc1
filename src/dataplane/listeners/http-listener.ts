/**
 * The front door of one bound listener, written once for every arrival mode: accept → PROXY
 * protocol → downstream connection caps → (TLS acceptor: SNI decision, termination or
 * passthrough) → HTTP/1.1 or HTTP/2 → request admission (request-admission.ts) → the handler
 * with the snapshot the request pinned; and the drain.
 *
 * Why the socket is accepted by a net.Server we own and then given to an http.Server that never
 * listens itself (`httpServer.emit('connection', socket)`, a documented use of that event): TLS
 * listeners must read the ClientHello before deciding anything — which certificate (SNI), or no
 * termination at all (passthrough to a TCP upstream). https.Server/tls.Server terminate every
 * connection they accept, so they cannot do passthrough. Owning the accept keeps one place to
 * count connections, enforce limits and drain, and lets a TLS listener peek, then wrap the socket
 * in a TLSSocket and hand it to this same HTTP processing (or to the TCP proxy).
 */
import type { Server as NetServer, Socket } from 'node:net'
import { createServer as createNetServer } from 'node:net'
import type * as ir from '../../ir/index.js'
import type { ListenerContext } from '../types.js'
import { ListenerBindError } from './bind-error.js'
import { ConnectionCaps } from './connection-caps.js'
import { createConnectionErrorReporter } from './connection-errors.js'
import {
  beginDrainConnections,
  contain,
  ignore,
  trackConnection,
  type ListenerState,
} from './connection-registry.js'
import type {
  AcceptedConnection,
  ConnectionAcceptor,
  HttpListener,
  ListenerHooks,
} from './front-types.js'
import { createH2Listener } from './h2-server.js'
import { createHttp1Server, dispatchWaiting } from './http1-server.js'
import { proxyPolicyFor, readProxyHeader } from './proxy-header-reader.js'
import { applyLimits, describeServer } from './server-options.js'

export type {
  AcceptedConnection,
  ConnectionAcceptor,
  HttpListener,
  ListenerHooks,
  RequestHandler,
  ServeView,
  UpgradeRequestHandler,
} from './front-types.js'

export async function bindHttpListener<P>(
  listener: ir.Listener,
  limits: ir.DownstreamLimits,
  hooks: ListenerHooks<P>,
  accept?: ConnectionAcceptor<P>,
): Promise<HttpListener<P>> {
  const context: ListenerContext = Object.freeze({
    id: listener.id,
    address: listener.address,
    port: listener.port,
    scheme: 'http',
  })
  let resolveEmptied: () => void = () => undefined
  const emptied = new Promise<void>((resolve) => {
    resolveEmptied = resolve
  })
  const state: ListenerState<P> = {
    context,
    hooks,
    view: undefined,
    draining: false,
    inflight: 0,
    connections: new Set(),
    waiting: [],
    onEmpty: resolveEmptied,
    maxRequestsPerConnection: limits.maxRequestsPerConnection,
    errors: hooks.connectionErrors ?? createConnectionErrorReporter(hooks.log),
  }

  const httpServer = createHttp1Server(state, limits)

  const netServer = createNetServer({ allowHalfOpen: true, noDelay: true })
  // Terminated TLS connections that negotiated h2 go to an HTTP/2 server that, like httpServer,
  // never listens itself.
  const h2 = accept === undefined ? undefined : createH2Listener(state, limits)
  const deliver = (accepted: AcceptedConnection, transport: Socket): void => {
    if (accepted.socket.destroyed) return
    const conn = trackConnection(state, accepted.socket)
    conn.accepted = accepted
    conn.transport = transport
    if (h2 !== undefined && (accepted.socket as { alpnProtocol?: unknown }).alpnProtocol === 'h2') {
      contain(state, accepted.socket, 'h2 attach', () => h2.attach(conn))
      return
    }
    contain(state, accepted.socket, 'connection', () =>
      httpServer.emit('connection', accepted.socket),
    )
  }
  const caps = new ConnectionCaps(
    listener.id,
    limits,
    { log: hooks.log, onRefused: hooks.onConnectionRefused },
    hooks.sharedCaps !== undefined ? { ...hooks.sharedCaps, port: listener.port } : undefined,
  )
  const onAccepted = (socket: Socket): void => {
    const raw = trackConnection(state, socket)
    if (accept === undefined) {
      contain(state, socket, 'connection', () => httpServer.emit('connection', socket))
      return
    }
    contain(state, socket, 'acceptor', () =>
      accept(socket, state.view?.prepared, (accepted) => {
        // From here the TLS socket stands for the connection (drain, counts, requests).
        raw.moved = true
        state.connections.delete(raw)
        deliver(accepted, socket)
      }),
    )
  }
  const onAdmitted = (socket: Socket): void => {
    // Shared leases arrive later: the listener may be draining by then.
    if (state.draining) {
      socket.destroy()
      return
    }
    onAccepted(socket)
  }
  const onConnection = (socket: Socket): void => {
    if (!caps.admit(socket)) return
    if (caps.isShared) caps.admitShared(socket, onAdmitted)
    else onAccepted(socket)
  }
  // PROXY protocol first: caps per client and everything after them see the proxied address.
  let proxyPolicy = proxyPolicyFor(limits.proxyProtocol, listener.port)
  const onProxied = (socket: Socket): void => {
    // The header may arrive after the drain began.
    if (state.draining) socket.destroy()
    else onConnection(socket)
  }
  const onProxyRefused = (reason: string, detail: string): void => {
    hooks.log.debug('PROXY header refused', { listener: listener.id, reason, detail })
  }
  netServer.on('connection', (socket: Socket) => {
    // A peer can reset at any moment, also before anything owns the socket (while shared leases
    // are taken, or the PROXY header is read): an 'error' nobody listens to would be thrown from
    // the event loop and end the process. Whoever takes the socket next adds its own handling.
    socket.on('error', ignore)
    if (proxyPolicy === undefined) onConnection(socket)
    else readProxyHeader(socket, proxyPolicy, onProxied, onProxyRefused)
  })
  try {
    await listen(netServer, listener.address, listener.port)
  } catch (err) {
    httpServer.close()
    throw new ListenerBindError(listener.id, err as NodeJS.ErrnoException)
  }
  netServer.on('error', (err) => {
    hooks.log.error('listener error', { listener: listener.id, err })
  })
  hooks.log.info('listener bound', { listener: listener.id, ...describeServer(httpServer, limits) })

  return {
    context,
    get isListening() {
      return netServer.listening
    },
    get isDraining() {
      return state.draining
    },
    get servedFrom() {
      return state.view?.prepared
    },
    serve(view) {
      state.view = view
      dispatchWaiting(state)
    },
    applyLimits(next) {
      applyLimits(httpServer, next)
      caps.setLimits(next)
      state.maxRequestsPerConnection = next.maxRequestsPerConnection
      proxyPolicy = proxyPolicyFor(next.proxyProtocol, listener.port)
    },
    beginDrain() {
      if (state.draining) return
      state.draining = true
      netServer.close()
      beginDrainConnections(state)
      // Keep-alive connections between requests (Node knows where its parser is).
      httpServer.closeIdleConnections()
      if (state.connections.size === 0) state.onEmpty()
    },
    emptied,
    destroyConnections() {
      state.waiting = []
      const count = state.connections.size
      for (const conn of state.connections) conn.socket.destroy()
      return count
    },
    dispose() {
      if (netServer.listening) netServer.close()
      // Clears Node's connection-checking interval.
      httpServer.close()
      h2?.close()
    },
    stats() {
      return { connections: state.connections.size, inflight: state.inflight }
    },
  }
}

/**
 * The accept queue asked for: the kernel caps it at net.core.somaxconn, so this is that value,
 * as Envoy's listeners use it. Node's default (511) overflows when a thousand clients connect at
 * once to a busy process: the dropped SYNs are retried after 1, 3 and 7 s and surface as client
 * timeouts instead of answers.
 */
const LISTEN_BACKLOG = 65_535

function listen(server: NetServer, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening)
      reject(err)
    }
    const onListening = (): void => {
      server.off('error', onError)
      resolve()
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen({ host, port, backlog: LISTEN_BACKLOG })
  })
}
