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
import { parseProxyHeader, V2_MAX_BYTES, type ProxyHeader } from './proxy-protocol.js'

/** What a listener applies; built once per settings change, not per connection. */
export interface ProxyProtocolPolicy {
  readonly trustedCidrs: readonly string[]
  readonly headerTimeoutMs: number
}

/** The policy for a listener on `port`, or undefined when it does not read PROXY headers. */
export function proxyPolicyFor(
  settings: ir.ProxyProtocolSettings | undefined,
  port: number,
): ProxyProtocolPolicy | undefined {
  if (settings === undefined) return undefined
  if (settings.ports !== undefined && !settings.ports.includes(port)) return undefined
  return { trustedCidrs: settings.trustedCidrs, headerTimeoutMs: settings.headerTimeoutMs }
}

export type ProxyRefusal = 'timeout' | 'malformed' | 'closed'

const kProxyHeader = Symbol('portcullis.proxyHeader')

/** The header a connection was accepted with (TLVs, the balancer's own address), if any. */
export function proxyHeaderOf(socket: object): ProxyHeader | undefined {
  return (socket as { [kProxyHeader]?: ProxyHeader })[kProxyHeader]
}

export function isTrustedSource(policy: ProxyProtocolPolicy, remote: string | undefined): boolean {
  const ip = remote === undefined ? undefined : parseIp(remote)
  if (ip === undefined) return false
  for (const range of policy.trustedCidrs) if (cidrContains(range, ip)) return true
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
    clearTimeout(timer)
    socket.off('data', onData)
    socket.off('end', onEnd)
    socket.off('error', onError)
    socket.destroy()
    onRefused?.(reason, detail)
  }
  const timer = setTimeout(
    () => refuse('timeout', 'no complete PROXY header in time'),
    policy.headerTimeoutMs,
  )
  timer.unref()
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
    clearTimeout(timer)
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
  const values = {
    remoteAddress: source.address,
    remotePort: source.port,
    remoteFamily: source.family,
  }
  for (const [name, value] of Object.entries(values)) {
    Object.defineProperty(socket, name, { value, configurable: true })
  }
}
