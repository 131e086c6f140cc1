import type { IncomingMessage, ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import type { Logger } from '../../lib/index.js'
import type { MatchRequest } from '../../match/index.js'
import type { EgressObserver, RequestObserver, RequestSpan } from '../../observe/events.js'
import type { PreparedDestination, PreparedRoute, PreparedSnapshot } from '../prepared.js'
import type { EgressGuard, ListenerContext } from '../types.js'
import type { UpstreamEndpoint } from '../upstream/endpoint.js'
import type { HostResolver } from '../upstream/host-resolver.js'
import { forwardedProto, peerIp } from './forwarded.js'
import type { OverloadSignal } from './overload-signal.js'
import { RequestHolds } from './request-holds.js'
import { newRequestId } from './request-id.js'

export type { CancelReason, InFlightAttempt } from './request-holds.js'

/** Where a response keeps its request's context, for listeners added without closures. */
export const CONTEXT: unique symbol = Symbol('portcullis.request-context')

/** Watches requests in flight for the downstream stream timeouts (stream-timeouts.ts). */
export interface RequestWatch {
  track(ctx: RequestContext): void
  untrack(ctx: RequestContext): void
}

/** What the handler shares with every request it serves. */
export interface HandlerEnv {
  readonly observer: RequestObserver
  readonly log: Logger
  /** Stream idle and request body rate, for every request in flight. */
  readonly timeouts: RequestWatch
  /** Told every allowlist decision the request path makes (metrics, the admin API). */
  readonly egress?: EgressObserver
  /** The resolver passthrough destinations of egress.httpPorts listeners use (dns.servers). */
  resolverFor(prepared: PreparedSnapshot): HostResolver
  /** The overload guard; absent: requests are never shed. */
  readonly overload?: OverloadSignal
}

/**
 * All state of one request, in one object: the only allocation the request path makes beyond
 * what headers and the upstream exchange need (and the holds, which own what it acquires).
 * Steps read and write it in the order of order.ts.
 */
export class RequestContext implements MatchRequest {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly prepared: PreparedSnapshot
  readonly listener: ListenerContext
  readonly env: HandlerEnv
  /** Epoch ms at arrival, and the monotonic mark durations are measured from. */
  readonly startTime: number
  readonly startMark: number
  readonly requestId: string
  readonly method: string
  readonly path: string
  readonly query: string
  readonly scheme: 'http' | 'https'
  readonly authority: string
  /** The peer's IP (IPv4-mapped addresses unwrapped) and the connection's ends, read at arrival
   * (node detaches the socket from the request once the response is done). */
  readonly peer: string
  readonly peerPort: number
  readonly localAddress: string
  readonly localPort: number
  readonly serverName: string | undefined
  /** X-Forwarded-Proto as the upstream will see it. */
  readonly forwardedProto: string
  readonly hasBody: boolean

  /** The upgrade's first bytes: set for a WebSocket upgrade, which ends in a tunnel. */
  readonly tunnelHead: Buffer | undefined
  /** Breaker slot, retries, shared-pool ticket, timers, attempt: released once, at close. */
  readonly holds = new RequestHolds()

  route: PreparedRoute | undefined = undefined
  /** The next of the route's steps to run (order.ts). */
  stepIndex = 0
  /** Egress listeners: endpoint addresses are checked before connecting (egress-address.ts). */
  egressGuard: EgressGuard | undefined
  matchIndex = -1
  destination: PreparedDestination | undefined = undefined

  /** Response flag bits (flags.ts) and Envoy's response code details. */
  flags = 0
  details = ''
  upstreamHost: string | undefined = undefined
  /** Why the last upstream connection failed (TLS), for the access log. */
  transportFailure: string | undefined = undefined
  upstreamServiceTimeMs: number | undefined = undefined
  /** The response head as sent downstream (flat name/value list). */
  responseHeaders: string[] | undefined = undefined
  /** grpc-status of the upstream's trailers, for the metrics' grpc_response_status. */
  grpcStatus: string | undefined = undefined
  bytesSent = 0
  bytesReceived = 0

  /** Tries made so far, and the endpoints they went to. */
  attempt = 0
  tried: UpstreamEndpoint[] | undefined = undefined
  /** The upstream request head and path (the upstream-headers and rewrite steps). */
  upstreamHeaders: string[] | undefined = undefined
  upstreamPath: string | undefined = undefined
  /** Headers added to whatever response goes out (CORS, rate limits, an issued hash cookie). */
  extraResponseHeaders: string[] | undefined = undefined
  /** The request body, kept when it is small enough to be sent again on a retry. */
  bodyBuffer: Buffer | undefined = undefined
  /** The consistent-hash key of this request, hashed (when the cluster balances by one). */
  hash: number | undefined = undefined
  /** The request's span (the trace-start step); it ends with the record. */
  trace: RequestSpan | undefined = undefined
  /** The downstream response has closed; the record is out. */
  closed = false
  /** The gateway destroyed the response itself (upstream reset mid-body, timeout). */
  resetByGateway = false
  /** Stream idle: bytesSent + bytesReceived at the last check, and since when it stands still. */
  idleProgress = 0
  idleSinceMark = 0
  /** Where stream-timeouts.ts holds this request in its list of watched ones; -1 when not. */
  watchSlot = -1
  /** Body rate: time the gateway spent reading the body in this window, bytes at its start. */
  bodyWaitMs = 0
  bodyWindowStartBytes = 0

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    prepared: PreparedSnapshot,
    listener: ListenerContext,
    env: HandlerEnv,
    tunnelHead?: Buffer,
  ) {
    this.tunnelHead = tunnelHead
    this.startMark = performance.now()
    this.startTime = Date.now()
    this.req = req
    this.res = res
    this.prepared = prepared
    this.listener = listener
    this.egressGuard = listener.egress
    this.env = env
    const headers = req.headers
    const sentId = single(headers['x-request-id'])
    this.requestId = sentId !== undefined && sentId !== '' ? sentId : newRequestId()
    this.method = req.method ?? 'GET'
    let url = req.url ?? '/'
    if (url.charCodeAt(0) !== 47 /* '/' */) url = originFormOf(url)
    const q = url.indexOf('?')
    this.path = q < 0 ? url : url.slice(0, q)
    this.query = q < 0 ? '' : url.slice(q + 1)
    this.scheme = listener.scheme
    this.authority = headers.host ?? ''
    const ends = connectionEndsOf(req.socket)
    this.peer = ends.peer
    this.peerPort = ends.peerPort
    this.localAddress = ends.localAddress
    this.localPort = ends.localPort
    this.serverName = ends.serverName
    this.forwardedProto = forwardedProto(
      single(headers['x-forwarded-proto']),
      listener.scheme,
      prepared.numTrustedProxies,
    )
    const length = headers['content-length']
    this.hasBody =
      headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
  }

  header(name: string): string | undefined {
    const v = this.req.headers[name]
    if (typeof v === 'string') return v
    return v === undefined ? undefined : v.join(',')
  }
}

/** A connection's two ends and SNI, as every request on it reads them. */
interface ConnectionEnds {
  readonly peer: string
  readonly peerPort: number
  readonly localAddress: string
  readonly localPort: number
  readonly serverName: string | undefined
}

const ENDS: unique symbol = Symbol('portcullis.connection-ends')
type WithEnds = IncomingMessage['socket'] & { [ENDS]?: ConnectionEnds }

/**
 * Read from the socket on its first request and kept on it: they do not change over a
 * connection (a PROXY header is applied before the first request), and each of the four
 * getters is a call into node's socket code with megamorphic loads: about 2 000 instructions
 * a request on a keep-alive connection, all four together (callgrind).
 */
function connectionEndsOf(socket: WithEnds): ConnectionEnds {
  const cached = socket[ENDS]
  if (cached !== undefined) return cached
  const sni = (socket as { servername?: unknown }).servername
  const ends: ConnectionEnds = {
    peer: peerIp(socket.remoteAddress),
    peerPort: socket.remotePort ?? 0,
    localAddress: socket.localAddress ?? '',
    localPort: socket.localPort ?? 0,
    serverName: typeof sni === 'string' && sni !== '' ? sni : undefined,
  }
  // Not before the socket is connected: its addresses are not known yet.
  if (ends.peer !== '') socket[ENDS] = ends
  return ends
}

/** `http://host/p?q` → `/p?q`; anything else (`*`) is kept. */
function originFormOf(url: string): string {
  const scheme = url.indexOf('://')
  if (scheme < 0) return url
  const slash = url.indexOf('/', scheme + 3)
  if (slash >= 0) return url.slice(slash)
  const q = url.indexOf('?', scheme + 3)
  return q >= 0 ? `/${url.slice(q)}` : '/'
}

function single(v: string | string[] | undefined): string | undefined {
  return typeof v === 'string' ? v : v?.[0]
}
