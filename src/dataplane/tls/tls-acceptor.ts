/**
 * The accept path of a TLS listener. Where nothing needs the ClientHello in JavaScript
 * (peek-decision.ts), the socket goes straight to Node's native TLS and SNICallback picks the
 * chain's context. Otherwise the ClientHello is peeked (bounded in size and time), the chain is
 * picked by SNI, and the bytes are passed through (PASSTHROUGH) or replayed into a TLS socket
 * with that chain's context. Either way the TLS socket then goes to HTTP processing or to a tcp
 * route. An SNI no chain covers (and no `*` server) closes the connection before any
 * handshake, as Envoy does when no filter chain matches.
 */
import type { Socket } from 'node:net'
import { TLSSocket } from 'node:tls'
import type * as ir from '../../ir/index.js'
import type { Logger } from '../../lib/index.js'
import type { ConnectionObserver } from '../../observe/events.js'
import type { AcceptedConnection, ConnectionAcceptor } from '../listeners/index.js'
import { L4Connection, type ConnectionSink } from '../record/connection-record.js'
import { Details } from '../record/details.js'
import { Flag } from '../record/flags.js'
import { answerAcmeAlpn, isAcmeAlpnHello, type AcmeAlpnResponder } from './acme-alpn.js'
import { MAX_HELLO_BYTES, parseClientHello } from './client-hello.js'
import {
  createHandshakeFailureReporter,
  handshakeErrorReason,
  verifyFailureReason,
  type HandshakeFailureReporter,
} from './handshake-failures.js'
import { connectionPeekReason, decidePlan, type NativeTls } from './peek-decision.js'
import { ReplayDuplex } from './replay-duplex.js'
import { checkClient, forwardedClientCert } from './server-context.js'
import { pickWeighted, proxyConnection, type L4Endpoint } from './tcp-proxy.js'
import type { ChainRuntime, TlsPlan } from './tls-plan.js'

/** Time a client has to send its ClientHello, and then to finish the handshake. */
const HELLO_TIMEOUT_MS = 10_000
const HANDSHAKE_TIMEOUT_MS = 10_000
const HTTP_ALPN = ['h2', 'http/1.1']

export interface L4Deps<P> {
  readonly log: Logger
  /** An endpoint of `cluster` in the snapshot `prepared`, or undefined (no cluster, none healthy). */
  readonly pickEndpoint: (prepared: P, cluster: ir.ClusterId) => L4Endpoint | undefined
  /** Failed handshakes and refused client certificates (metrics). */
  readonly connections?: ConnectionObserver
  /** Proxied connections: one access-log line each and the istio_tcp_* metrics. */
  readonly observer?: ConnectionSink
  /** ACME tls-alpn-01 challenges (acme-alpn.ts); needs the ClientHello peek below. */
  readonly acmeAlpn?: AcmeAlpnResponder
}

/**
 * Picks the route's destination and endpoint and proxies `downstream` to it; with none (no
 * route, no cluster, no healthy endpoint) the connection closes at once, recorded `UH`.
 */
function proxyRoute<P>(
  deps: L4Deps<P>,
  prepared: P,
  route: ir.L4Route | undefined,
  conn: L4Connection,
  downstream: Socket | TLSSocket,
  prefix?: Buffer,
): void {
  const dest = route === undefined ? undefined : pickWeighted(route.destinations, route.totalWeight)
  if (dest !== undefined) {
    conn.upstreamCluster = dest.cluster
    conn.destinationService = dest.host
  }
  const endpoint = dest === undefined ? undefined : deps.pickEndpoint(prepared, dest.cluster)
  if (endpoint === undefined) {
    downstream.destroy()
    conn.complete(Flag.UH, Details.noHealthyUpstream)
    return
  }
  proxyConnection(downstream, endpoint, conn, prefix)
}

/** TCP listeners: every connection goes to the first bound tcp route. */
export function createTcpAcceptor<P>(
  deps: L4Deps<P>,
  route: () => ir.L4Route | undefined,
  listener: string,
): ConnectionAcceptor<P> {
  return (socket, prepared) => {
    if (prepared === undefined) {
      socket.destroy()
      return
    }
    proxyRoute(
      deps,
      prepared,
      route(),
      new L4Connection(deps.observer, socket, listener, 'http'),
      socket,
    )
  }
}

export function createTlsAcceptor<P>(
  deps: L4Deps<P>,
  plan: () => TlsPlan | undefined,
  listener: string,
): ConnectionAcceptor<P> {
  const failures = createHandshakeFailureReporter(deps.log, deps.connections)
  const at: Accepting = { listener, failures }
  return (socket, prepared, deliver) => {
    const current = plan()
    if (prepared === undefined || current === undefined) {
      socket.destroy()
      return
    }
    const decision = decidePlan(current)
    if (
      decision.native !== undefined &&
      connectionPeekReason(socket) === undefined &&
      deps.acmeAlpn?.wanted() !== true
    ) {
      terminateNative(deps, at, prepared, current, decision.native, socket, deliver)
      return
    }
    let buffered: Buffer = Buffer.alloc(0)
    const timer = setTimeout(() => {
      failures.report({ listener, reason: 'hello_timeout', sni: undefined, client: peer(socket) })
      socket.destroy()
    }, HELLO_TIMEOUT_MS)
    timer.unref()
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
      const result = parseClientHello(buffered)
      if (result.kind === 'incomplete' && buffered.length < MAX_HELLO_BYTES) return
      clearTimeout(timer)
      socket.off('data', onData)
      socket.pause()
      if (result.kind !== 'hello') {
        failures.report({ listener, reason: 'not_tls', sni: undefined, client: peer(socket) })
        socket.destroy()
        return
      }
      const sni = result.hello.serverName
      // tls-alpn-01 is chosen from the peeked ClientHello: keep the peek while a solver is set.
      if (deps.acmeAlpn !== undefined && isAcmeAlpnHello(result.hello)) {
        return answerAcmeAlpn(socket, buffered, sni, deps.acmeAlpn)
      }
      const runtime = current.chains.select(sni)
      if (runtime === undefined) {
        failures.report({ listener, reason: 'unknown_sni', sni, client: peer(socket) })
        socket.destroy()
        return
      }
      dispatch(deps, at, prepared, runtime, socket, buffered, sni, deliver)
    }
    socket.on('data', onData)
    socket.on('error', () => socket.destroy())
  }
}

/** What dispatch needs to report a failed handshake. */
interface Accepting {
  readonly listener: string
  readonly failures: HandshakeFailureReporter
}

/** OpenSSL's verification code (CERT_HAS_EXPIRED, …), else its message. */
function verifyDetail(error: Error | undefined): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code
  return typeof code === 'string' ? code : error?.message
}

function peer(socket: Socket): string {
  return `${socket.remoteAddress ?? '-'}:${socket.remotePort ?? '-'}`
}

function dispatch<P>(
  deps: L4Deps<P>,
  at: Accepting,
  prepared: P,
  runtime: ChainRuntime,
  socket: Socket,
  hello: Buffer,
  serverName: string | undefined,
  deliver: (conn: AcceptedConnection) => void,
): void {
  const { chain, material } = runtime
  if (material === undefined) {
    const conn = new L4Connection(deps.observer, socket, at.listener, 'https')
    conn.serverName = serverName
    proxyRoute(deps, prepared, runtime.sniRoutes?.select(serverName), conn, socket, hello)
    return
  }
  const client = material.settings.client
  const tlsSocket = new TLSSocket(new ReplayDuplex(socket, hello), {
    isServer: true,
    secureContext: material.context,
    requestCert: client !== undefined,
    // MUTUAL: OpenSSL refuses a missing or unverifiable certificate with the proper alert.
    rejectUnauthorized: client?.required === true,
    // HTTP chains serve HTTP/2 and HTTP/1.1 from the same route table; tcp chains carry bytes.
    ALPNProtocols: chain.service.kind === 'http' ? HTTP_ALPN : undefined,
  })
  exposeAddresses(tlsSocket, socket)
  serveSecure(deps, at, prepared, socket, tlsSocket, () => ({ runtime, serverName }), deliver)
}

/**
 * The native path: the accepted socket itself becomes the TLS socket's transport, so OpenSSL
 * reads and writes the TCP handle without a JS stream in between. SNICallback picks the chain
 * (only its context can change there; the other options are the same for every chain of the
 * plan, which decidePlan checked). A ClientHello without SNI gets the plan's fallback chain.
 */
function terminateNative<P>(
  deps: L4Deps<P>,
  at: Accepting,
  prepared: P,
  plan: TlsPlan,
  native: NativeTls,
  socket: Socket,
  deliver: (conn: AcceptedConnection) => void,
): void {
  let chosen: { runtime: ChainRuntime; serverName: string | undefined } = {
    runtime: native.fallback,
    serverName: undefined,
  }
  const tlsSocket = new TLSSocket(socket, {
    isServer: true,
    secureContext: native.fallback.material!.context,
    requestCert: native.requestCert,
    rejectUnauthorized: native.rejectUnauthorized,
    ALPNProtocols: native.isHttp ? HTTP_ALPN : undefined,
    SNICallback(servername, cb) {
      const runtime = plan.chains.select(servername)
      if (runtime?.material === undefined) {
        at.failures.report({
          listener: at.listener,
          reason: 'unknown_sni',
          sni: servername,
          client: peer(socket),
        })
        // Aborts the handshake; the connection closes without a certificate sent.
        cb(new Error(`no server for ${servername}`), undefined)
        socket.destroy()
        return
      }
      chosen = { runtime, serverName: servername }
      cb(null, runtime.material.context)
    },
  })
  serveSecure(deps, at, prepared, socket, tlsSocket, () => chosen, deliver)
}

/**
 * Both paths from the TLS socket on: the handshake timeout, failures, the client certificate
 * check, then HTTP or the tcp route. `chosen` is read once the handshake is done (the native
 * path learns the chain in SNICallback).
 */
function serveSecure<P>(
  deps: L4Deps<P>,
  at: Accepting,
  prepared: P,
  socket: Socket,
  tlsSocket: TLSSocket,
  chosen: () => { readonly runtime: ChainRuntime; readonly serverName: string | undefined },
  deliver: (conn: AcceptedConnection) => void,
): void {
  const failed = (reason: string, detail?: string): void => {
    at.failures.report({
      listener: at.listener,
      reason,
      sni: chosen().serverName,
      socket: tlsSocket,
      client: peer(socket),
      ...(detail !== undefined ? { detail } : {}),
    })
  }
  let isSecure = false
  const timer = setTimeout(() => {
    failed('handshake_timeout')
    tlsSocket.destroy()
  }, HANDSHAKE_TIMEOUT_MS)
  timer.unref()
  tlsSocket.on('error', (err: Error) => {
    clearTimeout(timer)
    // After the handshake, errors belong to the HTTP or TCP side that owns the socket.
    if (!isSecure) failed(handshakeErrorReason(err), err.message)
    tlsSocket.destroy()
  })
  tlsSocket.once('secure', () => {
    isSecure = true
    clearTimeout(timer)
    const { runtime, serverName } = chosen()
    const { chain, material } = runtime
    const client = material?.settings.client
    if (client !== undefined) recordVerification(tlsSocket)
    const refusal = client === undefined ? undefined : checkClient(tlsSocket, client)
    // No certificate, or one that does not verify: no HTTP at all (hardening.md §4.3).
    if (refusal !== undefined && refusal.close) {
      const error = tlsSocket.authorizationError
      if (refusal.reason === 'no_client_cert') failed('no_client_cert')
      else failed(verifyFailureReason(error), verifyDetail(error))
      tlsSocket.destroy()
      return
    }
    const service = chain.service
    if (service.kind === 'http') {
      deliver({
        socket: tlsSocket,
        context: runtime.context,
        serverHosts: chain.sniHosts,
        clientCert: client === undefined ? undefined : forwardedClientCert(tlsSocket),
        ...(refusal !== undefined ? { forbidden: refusal.reason } : {}),
      })
      return
    }
    if (refusal !== undefined || service.kind !== 'tcp') {
      tlsSocket.destroy()
      return
    }
    const conn = new L4Connection(deps.observer, socket, at.listener, 'https')
    conn.serverName = serverName
    proxyRoute(deps, prepared, service.route, conn, tlsSocket)
  })
}

/**
 * A TLSSocket over a JS stream has no handle to ask for addresses; logs, X-Forwarded-For and
 * limits need the client's, so they are read from the accepted socket.
 */
function exposeAddresses(tlsSocket: TLSSocket, raw: Socket): void {
  const values = {
    remoteAddress: raw.remoteAddress,
    remotePort: raw.remotePort,
    remoteFamily: raw.remoteFamily,
    localAddress: raw.localAddress,
    localPort: raw.localPort,
  }
  for (const [name, value] of Object.entries(values)) {
    Object.defineProperty(tlsSocket, name, { value, configurable: true })
  }
}

interface VerifyingHandle {
  verifyError?: () => Error | null
}

/**
 * What tls.Server does in its 'secure' listener (onServerSocketSecure in Node's _tls_wrap) and a
 * TLSSocket created on its own does not: record OpenSSL's verdict on the client certificate.
 */
function recordVerification(socket: TLSSocket): void {
  const handle = (socket as unknown as { _handle?: VerifyingHandle })._handle
  const error = handle?.verifyError?.() ?? null
  if (error === null) socket.authorized = true
  else {
    socket.authorized = false
    socket.authorizationError = error
  }
}
