/**
 * SNI egress (GatewayConfig.spec.egress.sniPorts): a TLS connection is admitted by the name in
 * its ClientHello against the ServiceEntries alone, then passed through untouched, so the client
 * sees the real upstream's certificate. The hello is peeked (bounded in size and time), the name
 * resolved once and the answer checked; the checked address is the one connected to. Refused
 * connections (no SNI, unregistered name or port, IP literal, private address) are closed before
 * any upstream connection exists, with one access-log line and one egress decision each.
 */
import type { Socket } from 'node:net'
import type * as ir from '../../ir/index.js'
import type { Logger } from '../../lib/index.js'
import {
  BLACK_HOLE_CLUSTER,
  compileEgressMatcher,
  type EgressDecision,
  type EgressMatcher,
} from '../../match/index.js'
import type { EgressObserver, RequestObserver } from '../../observe/events.js'
import type { L4Support } from '../listeners/index.js'
import { L4Connection } from '../record/connection-record.js'
import {
  Details,
  egressAdmitted,
  egressAudited,
  egressDenied,
  type Detail,
} from '../record/details.js'
import { Flag } from '../record/flags.js'
import { parseClientHello } from '../tls/client-hello.js'
import { proxyConnection } from '../tls/tcp-proxy.js'
import { createHostResolver, type HostResolver } from '../upstream/host-resolver.js'
import { egressDestination } from './egress-reply.js'
import { decideL4 } from './mesh-l4.js'
import { resolveChecked } from '../upstream/resolve-checked.js'

/** hardening.md §2.5: a hello split over segments is still read, up to 64 KiB and 15 s. */
const MAX_PEEK_BYTES = 64 * 1024
const PEEK_TIMEOUT_MS = 15_000

export interface SniEgressDeps {
  readonly observer: RequestObserver
  readonly log: Logger
  /** Told every allowlist decision (metrics, the admin API's recent destinations). */
  readonly egress?: EgressObserver
  /** Overrides GatewayConfig dns.servers (tests point it at a loopback DNS server). */
  readonly dnsServers?: readonly string[]
}

interface Pinned {
  readonly matcher: EgressMatcher
  readonly resolver: HostResolver
  readonly routes: readonly ir.MeshL4Route[] | undefined
  /** egress.sniPortMappings: listen port → the ServiceEntry port names are admitted as. */
  readonly servicePorts: Readonly<Record<string, number>>
}

/** One connection's facts, for its decision; `conn` becomes its access-log line. */
interface Attempt {
  readonly socket: Socket
  readonly listener: ir.Listener
  readonly conn: L4Connection
}

const ALLOWED = new Set(['allowed', 'passthrough', 'audited'])

/** The listener manager's side of SNI egress listeners (listeners/egress-listeners.ts). */
export function createSniEgressSupport<P extends { readonly snapshot: ir.Snapshot }>(
  deps: SniEgressDeps,
): L4Support<P> {
  // Built once per snapshot's egress part, on its first connection.
  const pins = new WeakMap<ir.Egress, Pinned>()

  function pin(prepared: P | undefined): Pinned | undefined {
    const egress = prepared?.snapshot.egress
    if (egress === undefined) return undefined
    let p = pins.get(egress)
    if (p === undefined) {
      const servers = deps.dnsServers ?? egress.dnsServers
      p = {
        matcher: compileEgressMatcher(egress),
        resolver: createHostResolver(servers.length > 0 ? { servers } : {}),
        routes: egress.meshL4Routes,
        servicePorts: egress.sniServicePorts ?? {},
      }
      pins.set(egress, p)
    }
    return p
  }

  function decided(
    a: Attempt,
    verdict: EgressDecision['verdict'],
    host: string,
    reason: string | undefined,
  ): void {
    deps.egress?.onEgressDecision({
      decision: verdict,
      host,
      port: a.listener.port,
      arrival: 'sni',
      source: a.socket.remoteAddress ?? '',
      reason,
    })
    if (verdict !== 'allowed') {
      deps.log.info('egress decision', {
        verdict,
        reason,
        host,
        port: a.listener.port,
        source: a.socket.remoteAddress,
      })
    }
  }

  /** Closes without any upstream connection; one log line, one decision. */
  function refuse(a: Attempt, host: string, reason: string): void {
    decided(a, 'denied', host, reason)
    a.socket.destroy()
    a.conn.upstreamCluster = BLACK_HOLE_CLUSTER
    a.conn.destinationService = BLACK_HOLE_CLUSTER
    a.conn.complete(Flag.EG, egressDenied(reason))
  }

  /** Closes before connecting because the name did not resolve to a usable address. */
  function unreachable(a: Attempt, d: EgressDecision, details: Detail): void {
    a.socket.destroy()
    a.conn.upstreamCluster = d.cluster
    a.conn.destinationService = egressDestination(d)
    a.conn.complete(Flag.UF, details)
  }

  async function admit(a: Attempt, p: Pinned, hello: Buffer, sni: string): Promise<void> {
    const port = p.servicePorts[String(a.listener.port)] ?? a.listener.port
    // A mesh tls route for the SNI (an egress gateway) decides where the connection goes.
    const { decision } = decideL4(p.matcher, p.routes, sni, port)
    if (!ALLOWED.has(decision.verdict)) {
      refuse(a, decision.host, decision.reason!)
      return
    }
    const checked = await resolveChecked(p.matcher, p.resolver, decision)
    if ('error' in checked) {
      decided(a, decision.verdict, decision.host, decision.reason)
      unreachable(a, decision, Details.dnsResolutionFailed)
      return
    }
    const d = checked.decision
    if (d.verdict === 'denied') {
      refuse(a, d.host, d.reason!)
      return
    }
    decided(a, d.verdict, d.host, d.reason)
    if (a.socket.destroyed) return
    pipe(a, d, checked.address, checked.port, hello)
  }

  /** Passes the connection through to the checked address, the peeked hello first. */
  function pipe(a: Attempt, d: EgressDecision, address: string, port: number, hello: Buffer): void {
    const conn = a.conn
    conn.upstreamCluster = d.cluster
    conn.destinationService = egressDestination(d)
    if (d.verdict === 'audited') {
      conn.flags |= Flag.EG
      conn.details = egressAudited(d.reason)
    } else conn.details = egressAdmitted(d.verdict === 'passthrough' ? 'passthrough' : 'allowed')
    proxyConnection(a.socket, { ip: address, port }, conn, hello)
    a.socket.resume()
  }

  function accept(socket: Socket, prepared: P | undefined, listener: ir.Listener): void {
    const p = pin(prepared)
    socket.on('error', () => socket.destroy())
    if (p === undefined) {
      socket.destroy()
      return
    }
    const a: Attempt = {
      socket,
      listener,
      conn: new L4Connection(deps.observer, socket, listener.id, 'https'),
    }
    let buffered: Buffer = Buffer.alloc(0)
    const stop = (): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('close', stop)
    }
    const timer = setTimeout(() => {
      stop()
      refuse(a, '', Details.clientHelloTimeout)
    }, PEEK_TIMEOUT_MS)
    timer.unref()
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
      const result = parseClientHello(buffered)
      if (result.kind === 'incomplete' && buffered.length < MAX_PEEK_BYTES) return
      stop()
      socket.pause()
      if (result.kind !== 'hello') {
        refuse(a, '', Details.invalidClientHello)
        return
      }
      const sni = result.hello.serverName
      if (sni === undefined || sni === '') {
        refuse(a, '', Details.missingSni)
        return
      }
      a.conn.serverName = sni
      admit(a, p, buffered, sni).catch((err: unknown) => {
        deps.log.error('sni egress failed', { listener: listener.id, err })
        socket.destroy()
      })
    }
    socket.on('data', onData)
    // A client that leaves before its hello is not a decision.
    socket.once('close', stop)
  }

  return {
    prepare: () => Promise.resolve(undefined),
    create(listener) {
      return {
        acceptor: (socket, prepared) => accept(socket, prepared, listener),
        use: () => undefined,
        close: () => undefined,
      }
    },
  }
}
