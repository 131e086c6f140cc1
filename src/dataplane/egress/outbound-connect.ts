/**
 * CONNECT tunnels on the outbound listener. The front door's request guard has admitted the
 * head (authority-form `host:port`, header limits); here the allowlist decides the target, the
 * name is resolved once, the answer is checked, and the checked address is the one connected
 * to. The tunnel exists only once the upstream accepted: a refusal before that is 503 UF, an
 * error after it ends the tunnel. One record per CONNECT, written when it ends.
 */
import type { IncomingMessage } from 'node:http'
import { connect, type Socket } from 'node:net'
import type { Logger } from '../../lib/index.js'
import type { EgressDecision } from '../../match/index.js'
import type { EgressObserver, RequestObserver } from '../../observe/events.js'
import { serveHttpInTunnel } from '../listeners/connect-dispatch.js'
import { formatAddress, socketAddresses, type SocketAddresses } from '../record/address.js'
import { Flag } from '../record/flags.js'
import { resolveChecked } from '../upstream/resolve-checked.js'
import {
  complete,
  egressRecord,
  replyConnectRefused,
  type EgressRecordInput,
} from './egress-reply.js'
import { decideL4 } from './mesh-l4.js'
import type { Pinned } from './outbound-pin.js'

export interface ConnectDeps {
  readonly observer: RequestObserver
  readonly log: Logger
  readonly egress?: EgressObserver
}

const ALLOWED = new Set(['allowed', 'passthrough', 'audited'])

/** One CONNECT from arrival to its record. */
interface Tunnel {
  readonly deps: ConnectDeps
  readonly p: Pinned
  readonly req: IncomingMessage
  readonly socket: Socket
  readonly startTime: number
  readonly addresses: SocketAddresses
  readonly authority: string
}

export function serveConnect(
  deps: ConnectDeps,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  p: Pinned,
): void {
  const t: Tunnel = {
    deps,
    p,
    req,
    socket,
    startTime: Date.now(),
    addresses: socketAddresses(socket),
    authority: req.url ?? '',
  }
  socket.on('error', () => socket.destroy())
  const target = splitTarget(t.authority)
  if (target === undefined) {
    replyConnectRefused(socket, 400, undefined, 'bad_connect_target')
    return
  }
  // A mesh tls/tcp route for the target (an egress gateway) decides where the tunnel goes.
  const { decision, routed } = decideL4(p.matcher, p.egress.meshL4Routes, target.host, target.port)
  if (!ALLOWED.has(decision.verdict)) {
    decided(t, decision)
    const bytes = replyConnectRefused(socket, 403, decision, decision.reason!)
    record(t, 403, Flag.EG, `egress_denied:${decision.reason}`, decision, { bytesSent: bytes })
    return
  }
  if (routed === undefined && decision.servicePort?.protocol === 'HTTP') {
    serveHttpTunnel(t, head, decision)
    return
  }
  void openTunnel(t, head, decision)
}

/**
 * A registered port whose protocol is HTTP carries HTTP (curl -p, undici's ProxyAgent): the
 * tunnel's requests are served by the listener's HTTP server, so each one is decided by its Host
 * and runs its mesh VirtualService and DestinationRule (TLS origination) like a plain-HTTP
 * request to the listener. The CONNECT itself is recorded when the tunnel closes.
 */
function serveHttpTunnel(t: Tunnel, head: Buffer, d: EgressDecision): void {
  decided(t, d)
  t.socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
  if (!serveHttpInTunnel(t.socket, head)) {
    t.socket.destroy()
    return
  }
  t.socket.once('close', () => record(t, 200, 0, `egress_${d.verdict}`, d))
}

async function openTunnel(t: Tunnel, head: Buffer, decision: EgressDecision): Promise<void> {
  const checked = await resolveChecked(t.p.matcher, t.p.resolver, decision)
  decided(t, 'error' in checked ? decision : checked.decision)
  const socket = t.socket
  if ('error' in checked) {
    replyConnectRefused(socket, 503, decision, checked.error)
    record(t, 503, Flag.UF, checked.error, decision)
    return
  }
  const d = checked.decision
  if (d.verdict === 'denied') {
    replyConnectRefused(socket, 403, d, d.reason!)
    record(t, 403, Flag.EG, `egress_denied:${d.reason}`, d)
    return
  }
  const upstream = connect({ host: checked.address, port: checked.port })
  const upstreamHost = formatAddress(checked.address, checked.port)
  // After 'error' the socket's `connecting` is already false, so it cannot tell a refused
  // connect from an ended tunnel: `established` does.
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
      record(t, 503, Flag.UF, 'upstream_connect_failure', d, { upstreamHost, bytesSent: bytes })
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
      record(t, 0, Flag.DC, 'downstream_remote_disconnect', d, { upstreamHost })
      return
    }
    const isAudited = d.verdict === 'audited'
    record(
      t,
      200,
      isAudited ? Flag.EG : 0,
      isAudited ? `egress_audited:${d.reason}` : `egress_${d.verdict}`,
      d,
      { upstreamHost, bytesSent: upstream.bytesRead, bytesReceived: upstream.bytesWritten },
    )
  })
}

function record(
  t: Tunnel,
  status: number,
  flags: number,
  details: string,
  decision: EgressDecision,
  extra: Pick<EgressRecordInput, 'upstreamHost' | 'bytesSent' | 'bytesReceived'> = {},
): void {
  complete(
    t.deps.observer,
    egressRecord({
      req: t.req,
      startTime: t.startTime,
      status,
      flags,
      details,
      decision,
      listener: t.p.listenerId,
      authority: t.authority,
      addresses: t.addresses,
      ...extra,
    }),
  )
  if (decision.verdict !== 'allowed') {
    t.deps.log.info('egress decision', {
      verdict: decision.verdict,
      reason: decision.reason,
      host: decision.host,
      port: decision.port,
      source: t.req.socket.remoteAddress,
    })
  }
}

function decided(t: Tunnel, d: EgressDecision): void {
  t.deps.egress?.onEgressDecision({
    decision: d.verdict,
    host: d.host,
    port: d.port,
    arrival: 'connect',
    source: t.req.socket.remoteAddress ?? '',
    reason: d.reason,
  })
}

/** `host:port` as the guard admitted it (`[v6]:port` keeps its brackets, as decisions expect). */
function splitTarget(target: string): { host: string; port: number } | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]/]+):([0-9]{1,5})$/.exec(target)
  if (m === null) return undefined
  const port = Number(m[2])
  if (port < 1 || port > 65535) return undefined
  return { host: m[1]!, port }
}
