/**
 * The outbound proxy listener (GatewayConfig.spec.outbound): clients set HTTP_PROXY/HTTPS_PROXY
 * to it. Absolute-form HTTP requests and CONNECT tunnels are checked against the egress
 * allowlist before anything goes upstream. Allowed HTTP to a host the outbound route tables know
 * (a mesh-bound VirtualService, or a registered host with endpoints) is served by the normal
 * request path, so timeouts, retries, faults, header rules and TLS origination apply; other
 * allowed destinations (wildcards, NONE, ALLOW_ANY) are resolved once per request and the
 * checked address is the one connected to. It also decides the Hosts no route serves on Gateway
 * HTTP ports listed in egress.httpPorts, the same way.
 */
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import { connect, type Socket } from 'node:net'
import type * as ir from '../../ir/index.js'
import { egressRouteTableId } from '../../ir/index.js'
import { normalizeHost, type Logger } from '../../lib/index.js'
import {
  compileEgressMatcher,
  decideEgress,
  selectVirtualHost,
  type EgressDecision,
  type EgressMatcher,
} from '../../match/index.js'
import type { EgressArrival, EgressObserver, RequestObserver } from '../../observe/events.js'
import type { RequestContext } from '../http/context.js'
import type { HttpHandler } from '../http/handler.js'
import { runVirtualHost } from '../http/order.js'
import { applyForwardClientCert } from '../listeners/forward-client-cert.js'
import type { ListenerHooks, RequestHandler } from '../listeners/front-types.js'
import { bindHttpListener, type HttpListener } from '../listeners/http-listener.js'
import { admitRequestTarget, type TargetSettings } from '../listeners/request-target.js'
import { createServeView } from '../listeners/serve-view.js'
import type { PreparedEgressPort, PreparedSnapshot } from '../prepare.js'
import type { EgressGuard, ListenerContext } from '../types.js'
import { createHostResolver, type HostResolver } from '../upstream/host-resolver.js'
import { formatAddress, socketAddresses, type SocketAddresses } from '../record/address.js'
import { Flag } from '../record/flags.js'
import {
  complete,
  egressRecord,
  replyConnectRefused,
  replyHttpDenied,
  type EgressRecordInput,
} from './egress-reply.js'
import { resolveChecked } from './resolve-checked.js'

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

/** Where an egress decision is made: the allowlist, a resolver, the listener it is logged under. */
interface Site {
  readonly matcher: EgressMatcher
  readonly resolver: HostResolver
  readonly listenerId: string
}

export interface Pinned extends Site {
  readonly prepared: PreparedSnapshot
  readonly guard: EgressGuard
  readonly egress: ir.Egress
  readonly outbound: ir.OutboundListener
  readonly matcher: EgressMatcher
  readonly resolver: HostResolver
  /** The target checks and path normalization every request gets (as on Gateway listeners). */
  readonly target: TargetSettings
}

const ALLOWED = new Set(['allowed', 'passthrough', 'audited'])

/** The port an authority names (`host:8080`, `[::1]:8080`), or undefined when it names none. */
function authorityPort(authority: string): number | undefined {
  const colon = authority.lastIndexOf(':')
  if (colon < 0 || colon < authority.lastIndexOf(']')) return undefined
  const port = Number(authority.slice(colon + 1))
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : undefined
}

/** `http://host/p?q` → `/p?q`, `http://host?q` → `/?q`; origin-form is kept. */
function originForm(target: string): string {
  const scheme = target.indexOf('://')
  if (scheme < 0) return target
  let i = scheme + 3
  while (i < target.length && target[i] !== '/' && target[i] !== '?') i++
  if (i === target.length) return '/'
  return target[i] === '/' ? target.slice(i) : `/${target.slice(i)}`
}

function parseTarget(target: string): { host: string; port: number } | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]/]+):([0-9]{1,5})$/.exec(target)
  if (m === null) return undefined
  const port = Number(m[2])
  if (port < 1 || port > 65535) return undefined
  return { host: m[1]!, port }
}

/** True when the outbound listener's port is also a destination port with a route table. */
function egressPortServed(p: Pinned): boolean {
  return p.egress.routeTables[String(p.outbound.port)] !== undefined
}

export function createOutboundProxy(deps: OutboundProxyDeps): OutboundProxy {
  let serving: HttpListener<Pinned> | undefined
  let bound: ir.OutboundListener | undefined
  /** Every listener still open (serving, prepared, or draining). */
  const open = new Set<HttpListener<Pinned>>()
  /** Resolvers for egress.httpPorts forwards, one per snapshot (its dns.servers). */
  const hostResolvers = new WeakMap<PreparedSnapshot, HostResolver>()

  function pin(prepared: PreparedSnapshot): Pinned | undefined {
    const egress = prepared.snapshot.egress
    if (egress?.outbound === undefined) return undefined
    const servers = deps.dnsServers ?? egress.dnsServers
    const matcher = compileEgressMatcher(egress)
    return {
      prepared,
      egress,
      outbound: egress.outbound,
      listenerId: egress.outbound.id,
      guard: { matcher },
      matcher,
      resolver: createHostResolver(servers.length > 0 ? { servers } : {}),
      target: {
        maxUriBytes: prepared.snapshot.settings.downstream.maxUriBytes,
        pathNormalization: prepared.snapshot.settings.pathNormalization,
      },
    }
  }

  function record(
    p: Site,
    req: IncomingMessage,
    startTime: number,
    status: number,
    flags: number,
    details: string,
    decision: EgressDecision | undefined,
    authority: string,
    extra: Pick<
      EgressRecordInput,
      'upstreamHost' | 'bytesSent' | 'bytesReceived' | 'addresses'
    > = {},
  ): void {
    complete(
      deps.observer,
      egressRecord({
        req,
        startTime,
        status,
        flags,
        details,
        decision,
        listener: p.listenerId,
        authority,
        ...extra,
      }),
    )
    if (decision !== undefined && decision.verdict !== 'allowed') {
      deps.log.info('egress decision', {
        verdict: decision.verdict,
        reason: decision.reason,
        host: decision.host,
        port: decision.port,
        source: req.socket.remoteAddress,
      })
    }
  }

  function decided(req: IncomingMessage, d: EgressDecision, arrival: EgressArrival): void {
    deps.egress?.onEgressDecision({
      decision: d.verdict,
      host: d.host,
      port: d.port,
      arrival,
      source: req.socket.remoteAddress ?? '',
      reason: d.reason,
    })
  }

  /**
   * An absolute-form (or origin-form) request the front door admitted: the request guard has
   * checked and normalized its target against Host, and Expect, timeouts and parser errors were
   * answered there, on the project's reply path.
   */
  function onRequest(req: IncomingMessage, res: ServerResponse, p: Pinned): void {
    const startTime = Date.now()
    // The target check again, for origin-form requests whose authority is Host alone (the guard's
    // normalization is idempotent, so an admitted target comes back unchanged).
    const admitted = admitRequestTarget(req.method ?? '', req.url ?? '', undefined, p.target)
    if (typeof admitted !== 'string') {
      res.writeHead(admitted.status, { connection: 'close', 'content-length': '0' }).end()
      record(p, req, startTime, admitted.status, Flag.DPE, admitted.details, undefined, '')
      return
    }
    let url: URL
    try {
      url = new URL(
        admitted.startsWith('/') ? `http://${req.headers.host ?? ''}${admitted}` : admitted,
      )
    } catch {
      res.writeHead(400, { connection: 'close' }).end()
      return
    }
    if (url.protocol !== 'http:') {
      res.writeHead(400, { connection: 'close' }).end()
      return
    }
    // Origin-form from here on, as the request path expects; the URL's authority wins over Host.
    // The path is taken as normalized, not as the URL parser would rewrite it again.
    const hostHeader = req.headers.host ?? ''
    req.url = originForm(admitted)
    req.headers.host = url.host
    // Plain HTTP is never mutual TLS: only ALWAYS_FORWARD_ONLY lets a client's XFCC through.
    applyForwardClientCert(req, p.prepared.snapshot.settings.forwardClientCertDetails, undefined)
    // The Host port, else (for a Host request, not an absolute URL) the listener's own port when
    // it is a service port, as Istio's sidecar picks the route config by the port connected to.
    const port = admitted.startsWith('/')
      ? (authorityPort(hostHeader) ?? (egressPortServed(p) ? p.outbound.port : 80))
      : url.port === ''
        ? 80
        : Number(url.port)
    // A short name (`reviews`) is decided as the registered host it stands for.
    const named = normalizeHost(url.host) ?? ''
    const decision = decideEgress(p.matcher, p.egress.meshAliases?.[named] ?? url.hostname, port)
    const tableId = egressRouteTableId(p.outbound.id, port)
    const table = p.prepared.routeTables.get(tableId)
    const vhost = table === undefined ? undefined : selectVirtualHost(table, named)
    // A mesh VirtualService no ServiceEntry backs is served as Istio's sidecar serves it.
    const unbacked = vhost !== undefined && p.egress.unbackedHosts?.includes(vhost.name) === true
    if (!ALLOWED.has(decision.verdict) && !unbacked) {
      decided(req, decision, 'http')
      const bytes = replyHttpDenied(res, 502, decision, decision.reason!)
      record(
        p,
        req,
        startTime,
        502,
        Flag.EG,
        `egress_denied:${decision.reason}`,
        decision,
        url.host,
        {
          bytesSent: bytes,
        },
      )
      return
    }
    if ((decision.verdict === 'allowed' || unbacked) && vhost !== undefined) {
      const listener: ListenerContext = {
        id: tableId,
        address: p.outbound.address,
        port,
        scheme: 'http',
        egress: p.guard,
      }
      if (!unbacked) decided(req, decision, 'http')
      deps.handler(req, res, p.prepared, listener)
      return
    }
    void forwardDirect(p, req, res, decision, startTime, url.host)
  }

  function resolverFor(prepared: PreparedSnapshot): HostResolver {
    let resolver = hostResolvers.get(prepared)
    if (resolver === undefined) {
      const servers = deps.dnsServers ?? prepared.snapshot.egress?.dnsServers ?? []
      resolver = createHostResolver(servers.length > 0 ? { servers } : {})
      hostResolvers.set(prepared, resolver)
    }
    return resolver
  }

  /**
   * egress.httpPorts: a request no route on the Gateway port serves, decided by its Host and the
   * listener port as the outbound listener decides an absolute URL. A registered host with
   * endpoints takes its default route through the normal request path; everything else is
   * answered (and logged) here, so the request context stands down first.
   */
  function serveHost(ctx: RequestContext, port: PreparedEgressPort): void {
    const req = ctx.req
    const host = normalizeHost(ctx.authority) ?? ''
    const target = authorityPort(ctx.authority) ?? port.port
    const decision = decideEgress(port.matcher, host, target)
    if (decision.verdict === 'allowed' && target === port.port) {
      const vhost = selectVirtualHost(port.defaults, host)
      if (vhost !== undefined) {
        decided(req, decision, 'http')
        ctx.egressGuard = port.guard
        runVirtualHost(ctx, vhost)
        return
      }
    }
    ctx.closed = true
    const site: Site = {
      matcher: port.matcher,
      resolver: resolverFor(ctx.prepared),
      listenerId: ctx.listener.id,
    }
    if (!ALLOWED.has(decision.verdict)) {
      decided(req, decision, 'http')
      const bytes = replyHttpDenied(ctx.res, 502, decision, decision.reason!)
      record(
        site,
        req,
        ctx.startTime,
        502,
        Flag.EG,
        `egress_denied:${decision.reason}`,
        decision,
        ctx.authority,
        {
          bytesSent: bytes,
        },
      )
      return
    }
    void forwardDirect(site, req, ctx.res, decision, ctx.startTime, ctx.authority)
  }
  deps.handler.setEgressHost(serveHost)

  async function forwardDirect(
    p: Site,
    req: IncomingMessage,
    res: ServerResponse,
    decision: EgressDecision,
    startTime: number,
    authority: string,
  ): Promise<void> {
    const checked = await resolveChecked(p.matcher, p.resolver, decision)
    decided(req, 'error' in checked ? decision : checked.decision, 'http')
    if ('error' in checked) {
      const bytes = replyHttpDenied(res, 503, decision, checked.error)
      record(p, req, startTime, 503, Flag.UF, checked.error, decision, authority, {
        bytesSent: bytes,
      })
      return
    }
    if (checked.decision.verdict === 'denied') {
      const bytes = replyHttpDenied(res, 502, checked.decision, checked.decision.reason!)
      record(
        p,
        req,
        startTime,
        502,
        Flag.EG,
        `egress_denied:${checked.decision.reason}`,
        checked.decision,
        authority,
        { bytesSent: bytes },
      )
      return
    }
    const targetPort = checked.port
    const headers = { ...req.headers }
    delete headers['proxy-connection']
    delete headers['proxy-authorization']
    const up = httpRequest({
      host: checked.address,
      port: targetPort,
      method: req.method,
      path: req.url,
      headers,
      setHost: false,
    })
    let bytesReceived = 0
    req.on('data', (chunk: Buffer) => (bytesReceived += chunk.length))
    up.on('response', (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers)
      let bytesSent = 0
      ur.on('data', (chunk: Buffer) => (bytesSent += chunk.length))
      ur.pipe(res)
      const isAudited = checked.decision.verdict === 'audited'
      ur.on('end', () =>
        record(
          p,
          req,
          startTime,
          ur.statusCode ?? 0,
          isAudited ? Flag.EG : 0,
          isAudited ? `egress_audited:${checked.decision.reason}` : 'via_upstream',
          checked.decision,
          authority,
          { upstreamHost: formatAddress(checked.address, targetPort), bytesSent, bytesReceived },
        ),
      )
    })
    up.on('error', () => {
      if (res.headersSent) {
        res.destroy()
        return
      }
      const bytes = replyHttpDenied(res, 503, decision, 'upstream_connect_failure')
      record(p, req, startTime, 503, Flag.UF, 'upstream_connect_failure', decision, authority, {
        bytesSent: bytes,
      })
    })
    req.pipe(up)
  }

  function onConnect(req: IncomingMessage, socket: Socket, head: Buffer, p: Pinned): void {
    const startTime = Date.now()
    const addresses = socketAddresses(socket)
    socket.on('error', () => socket.destroy())
    const target = parseTarget(req.url ?? '')
    if (target === undefined) {
      replyConnectRefused(socket, 400, undefined, 'bad_connect_target')
      return
    }
    const decision = decideEgress(p.matcher, target.host, target.port)
    if (!ALLOWED.has(decision.verdict)) {
      decided(req, decision, 'connect')
      const bytes = replyConnectRefused(socket, 403, decision, decision.reason!)
      record(
        p,
        req,
        startTime,
        403,
        Flag.EG,
        `egress_denied:${decision.reason}`,
        decision,
        req.url ?? '',
        { bytesSent: bytes },
      )
      return
    }
    void tunnel(p, req, socket, head, decision, startTime, addresses)
  }

  async function tunnel(
    p: Pinned,
    req: IncomingMessage,
    socket: Socket,
    head: Buffer,
    decision: EgressDecision,
    startTime: number,
    addresses: SocketAddresses,
  ): Promise<void> {
    const authority = req.url ?? ''
    const checked = await resolveChecked(p.matcher, p.resolver, decision)
    decided(req, 'error' in checked ? decision : checked.decision, 'connect')
    if ('error' in checked) {
      replyConnectRefused(socket, 503, decision, checked.error)
      record(p, req, startTime, 503, Flag.UF, checked.error, decision, authority)
      return
    }
    const d = checked.decision
    if (d.verdict === 'denied') {
      replyConnectRefused(socket, 403, d, d.reason!)
      record(p, req, startTime, 403, Flag.EG, `egress_denied:${d.reason}`, d, authority)
      return
    }
    const targetPort = checked.port
    const upstream = connect({ host: checked.address, port: targetPort })
    const upstreamHost = formatAddress(checked.address, targetPort)
    // The tunnel exists only once the upstream accepted: an error before that is a refused
    // connect (503 UF, as for plain HTTP), one after it ends an established tunnel. (After
    // 'error' the socket's `connecting` is already false, so it cannot tell the two apart.)
    let established = false
    let recorded = false
    upstream.once('connect', () => {
      established = true
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length > 0) upstream.write(head)
      upstream.pipe(socket)
      socket.pipe(upstream)
    })
    upstream.once('error', () => {
      if (!established && !recorded) {
        recorded = true
        let bytes = 0
        if (socket.writable) bytes = replyConnectRefused(socket, 503, d, 'upstream_connect_failure')
        else socket.destroy()
        record(p, req, startTime, 503, Flag.UF, 'upstream_connect_failure', d, authority, {
          addresses,
          upstreamHost,
          bytesSent: bytes,
        })
        return
      }
      socket.destroy()
    })
    upstream.once('close', () => {
      if (established) socket.destroy()
    })
    socket.once('close', () => {
      upstream.destroy()
      if (recorded) return
      recorded = true
      if (!established) {
        // The client left before the upstream answered the connect.
        record(p, req, startTime, 0, Flag.DC, 'downstream_remote_disconnect', d, authority, {
          upstreamHost,
          addresses,
        })
        return
      }
      record(
        p,
        req,
        startTime,
        200,
        d.verdict === 'audited' ? Flag.EG : 0,
        d.verdict === 'audited' ? `egress_audited:${d.reason}` : `egress_${d.verdict}`,
        d,
        authority,
        {
          upstreamHost,
          addresses,
          bytesSent: upstream.bytesRead,
          bytesReceived: upstream.bytesWritten,
        },
      )
    })
  }

  const handler: RequestHandler<Pinned> = Object.assign(
    (req: IncomingMessage, res: ServerResponse, p: Pinned) => onRequest(req, res, p),
    {
      connect: (req: IncomingMessage, socket: Socket, head: Buffer, p: Pinned) =>
        onConnect(req, socket, head, p),
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
