/**
 * The accept step of a PROXY protocol listener: from a trusted source, read the header (bounded
 * in size and time), make the address it carries the socket's remote address, and hand the socket
 * on with the bytes after the header still unread. It runs before connection caps, TLS and HTTP,
 * so SNI, passthrough and every later reader of the client address see the proxied client.
 *
 * Why the address is set on the socket itself (what net.Socket reports as its peer, see
 * applyHeader): everything downstream already reads
 * `socket.remoteAddress` — connection caps per client, the request context (x-forwarded-for,
 * x-envoy-external-address, clientIp rate-limit keys, sourceIP hashing), local replies and the
 * access log, egress records. One place to set it means none of them can see the balancer's
 * address by mistake. The rest of the header (TLVs, the balancer's own address) is checked and
 * then dropped: nothing downstream reads it yet.
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
 *
 * Per connection this is one read in JavaScript, a parse and three closures: the accept path of
 * every connection of a balancer pays it, so nothing else is allocated here. 'close' stands for
 * both an early end and an error (the listener's own 'error' listener keeps an error from being
 * thrown; the socket is destroyed either way, which emits 'close').
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
  let buffered: Buffer | undefined
  const stop = (): void => {
    policy.deadlines.cancel(onTimeout)
    socket.off('data', onData)
    socket.off('close', onClose)
  }
  const refuse = (reason: ProxyRefusal, detail: string): void => {
    stop()
    socket.destroy()
    onRefused?.(reason, detail)
  }
  const onTimeout = (): void => refuse('timeout', 'no complete PROXY header in time')
  const onClose = (): void => refuse('closed', 'closed before a complete PROXY header')
  const onData = (chunk: Buffer): void => {
    const bytes = buffered === undefined ? chunk : Buffer.concat([buffered, chunk])
    buffered = bytes
    const result = parseProxyHeader(bytes)
    if (result.kind === 'incomplete') {
      if (bytes.length > V2_MAX_BYTES) refuse('malformed', 'PROXY header too long')
      return
    }
    if (result.kind === 'invalid') {
      refuse('malformed', result.reason)
      return
    }
    stop()
    applyHeader(socket, result.header)
    // The bytes after the header (a ClientHello, a request) go to whoever takes the socket
    // next. When `next` has attached its reader already (the HTTP server and the TLS peek do,
    // synchronously), they are handed to it now, as the 'data' event they arrived in; pushing
    // them back into the stream would cost a buffer round trip and a tick on every connection.
    next(socket)
    if (socket.destroyed) return
    const rest = bytes.length > result.length ? bytes.subarray(result.length) : undefined
    if (socket.listenerCount('data') > 0 && !socket.isPaused()) {
      if (rest !== undefined) socket.emit('data', rest)
      return
    }
    holdForLaterReader(socket, rest)
  }
  policy.deadlines.arm(onTimeout)
  socket.on('data', onData)
  socket.on('close', onClose)
}

/**
 * The socket went on to a step that attaches its reader later (after a shared connection lease
 * is granted). Until then the stream must not flow: a flowing socket without a 'data' listener
 * drops what it reads. Paused, it buffers (and stops reading at its high-water mark); the bytes
 * after the header go back in front, and the stream resumes once the reader is attached.
 */
function holdForLaterReader(socket: Socket, rest: Buffer | undefined): void {
  socket.pause()
  if (rest !== undefined) socket.unshift(rest)
  const onListener = (event: string | symbol): void => {
    if (event !== 'data') return
    socket.off('newListener', onListener)
    // 'newListener' fires before the listener is added.
    process.nextTick(() => socket.resume())
  }
  socket.on('newListener', onListener)
}

/** What net.Socket keeps its peer's address in (see applyHeader). */
interface PeerName {
  address: string
  family: string
  port: number
}

function applyHeader(socket: Socket, header: ProxyHeader): void {
  const source = header.source
  if (!header.proxied || source === undefined) return
  // net.Socket's remoteAddress, remotePort and remoteFamily getters read the peer from
  // `_peername`, which isTrustedSource's read of remoteAddress has just filled from the kernel
  // (same keys, same order). Replacing that object changes what all three report without giving
  // the socket own properties: it keeps the hidden class of every other socket, where three
  // Object.defineProperty calls made each proxied socket a new shape for Node's HTTP code.
  // proxy-header-reader.test.ts checks this against real sockets of the running Node.
  ;(socket as unknown as { _peername: PeerName })._peername = {
    address: source.address,
    family: source.family,
    port: source.port,
  }
}
