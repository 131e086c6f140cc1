/**
 * The accept step of a PROXY protocol listener: from a trusted source, read the header (bounded
 * in size and time), make the address it carries the socket's remote address, and hand the socket
 * on with the bytes after the header still unread. It runs before connection caps, TLS and HTTP,
 * so SNI, passthrough and every later reader of the client address see the proxied client.
 *
 * Why the address is set on the socket itself (own properties shadowing net.Socket's getters,
 * as tls-acceptor.ts does for the TLSSocket): everything downstream already reads
 * `socket.remoteAddress` — connection caps per client, the request context (x-forwarded-for,
 * x-envoy-external-address, clientIp rate-limit keys, sourceIP hashing), local replies and the
 * access log, egress records. One place to set it means none of them can see the balancer's
 * address by mistake.
 */
import type { Socket } from 'node:net'
import type * as ir from '../../ir/index.js'
import { cidrContains, parseIp } from '../../lib/index.js'
import { HeaderDeadlines } from './proxy-protocol-deadlines.js'
import { parseProxyHeader, V2_MAX_BYTES, type ProxyHeader } from './proxy-protocol.js'

/** What a listener applies; built once per settings change, not per connection. */
export interface ProxyProtocolPolicy {
  readonly trustedCidrs: readonly string[]
  readonly headerTimeoutMs: number
  /**
   * Whether each remote address seen is trusted: a balancer connects from a handful of
   * addresses, so each is parsed and matched against the ranges once, not on every connection.
   * Bounded (TRUST_MEMO_MAX); it goes with the policy when the settings change.
   */
  readonly trustByAddress: Map<string, boolean>
  /** The header timeout of every connection still sending its header, on one timer. */
  readonly deadlines: HeaderDeadlines
}

/** Past this many distinct addresses the memo starts over (many sources: no worse than none). */
const TRUST_MEMO_MAX = 1024

/** The policy for a listener on `port`, or undefined when it does not read PROXY headers. */
export function proxyPolicyFor(
  settings: ir.ProxyProtocolSettings | undefined,
  port: number,
): ProxyProtocolPolicy | undefined {
  if (settings === undefined) return undefined
  if (settings.ports !== undefined && !settings.ports.includes(port)) return undefined
  return {
    trustedCidrs: settings.trustedCidrs,
    headerTimeoutMs: settings.headerTimeoutMs,
    trustByAddress: new Map(),
    deadlines: new HeaderDeadlines(settings.headerTimeoutMs),
  }
}

export type ProxyRefusal = 'timeout' | 'malformed' | 'closed'

const kProxyHeader = Symbol('portcullis.proxyHeader')

/** The header a connection was accepted with (TLVs, the balancer's own address), if any. */
export function proxyHeaderOf(socket: object): ProxyHeader | undefined {
  return (socket as { [kProxyHeader]?: ProxyHeader })[kProxyHeader]
}

export function isTrustedSource(policy: ProxyProtocolPolicy, remote: string | undefined): boolean {
  if (remote === undefined) return false
  const known = policy.trustByAddress.get(remote)
  if (known !== undefined) return known
  const trusted = matchesTrustedRange(policy.trustedCidrs, remote)
  if (policy.trustByAddress.size >= TRUST_MEMO_MAX) policy.trustByAddress.clear()
  policy.trustByAddress.set(remote, trusted)
  return trusted
}

function matchesTrustedRange(ranges: readonly string[], remote: string): boolean {
  const ip = parseIp(remote)
  if (ip === undefined) return false
  for (const range of ranges) if (cidrContains(range, ip)) return true
  return false
}

/**
 * Calls `next` with the socket once its header is read (or at once for an untrusted source);
 * closes it on a malformed header, a timeout or more bytes than any header may have.
 */
export function readProxyHeader(
  socket: Socket,
  policy: ProxyProtocolPolicy,
  next: (socket: Socket) => void,
  onRefused?: (reason: ProxyRefusal, detail: string) => void,
): void {
  if (!isTrustedSource(policy, socket.remoteAddress)) {
    next(socket)
    return
  }
  let buffered: Buffer = Buffer.alloc(0)
  const refuse = (reason: ProxyRefusal, detail: string): void => {
    policy.deadlines.cancel(onTimeout)
    socket.off('data', onData)
    socket.off('end', onEnd)
    socket.off('error', onError)
    socket.destroy()
    onRefused?.(reason, detail)
  }
  const onTimeout = (): void => refuse('timeout', 'no complete PROXY header in time')
  policy.deadlines.arm(onTimeout)
  const onEnd = (): void => refuse('closed', 'closed before a complete PROXY header')
  const onError = (): void => refuse('closed', 'connection error before a complete PROXY header')
  const onData = (chunk: Buffer): void => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
    const result = parseProxyHeader(buffered)
    if (result.kind === 'incomplete') {
      if (buffered.length > V2_MAX_BYTES) refuse('malformed', 'PROXY header too long')
      return
    }
    if (result.kind === 'invalid') {
      refuse('malformed', result.reason)
      return
    }
    policy.deadlines.cancel(onTimeout)
    socket.off('data', onData)
    socket.off('end', onEnd)
    socket.off('error', onError)
    applyHeader(socket, result.header)
    // The bytes after the header (a ClientHello, a request) are read by whoever takes the
    // socket next; its 'data' listener, added synchronously inside `next`, receives them first.
    if (buffered.length > result.length) socket.unshift(buffered.subarray(result.length))
    next(socket)
  }
  socket.on('data', onData)
  socket.on('end', onEnd)
  socket.on('error', onError)
}

function applyHeader(socket: Socket, header: ProxyHeader): void {
  ;(socket as { [kProxyHeader]?: ProxyHeader })[kProxyHeader] = header
  const source = header.source
  if (!header.proxied || source === undefined) return
  // Three plain calls, in the same order on every socket: one hidden-class transition chain
  // shared by all proxied sockets, and no per-connection array of entries.
  Object.defineProperty(socket, 'remoteAddress', { value: source.address, configurable: true })
  Object.defineProperty(socket, 'remotePort', { value: source.port, configurable: true })
  Object.defineProperty(socket, 'remoteFamily', { value: source.family, configurable: true })
}
