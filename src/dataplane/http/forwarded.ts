/**
 * Forwarding headers with Envoy's `use_remote_address: true` semantics and Istio's
 * gatewayTopology.numTrustedProxies as `xff_num_trusted_hops`.
 */

/** Node reports IPv4 peers of a dual-stack socket as `::ffff:a.b.c.d`; Envoy shows `a.b.c.d`. */
export function peerIp(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined) return ''
  if (remoteAddress.startsWith('::ffff:') && remoteAddress.includes('.')) {
    return remoteAddress.slice(7)
  }
  return remoteAddress
}

/** Envoy appends the peer to X-Forwarded-For with a bare ',' and keeps what came before. */
export function appendForwardedFor(existing: string | undefined, peer: string): string {
  return existing === undefined || existing === '' ? peer : `${existing},${peer}`
}

/**
 * The client address the gateway trusts: the peer itself with no trusted proxies; with N, the
 * N-th address from the right of the incoming X-Forwarded-For (the one the outermost trusted
 * proxy saw), falling back to the peer when the header is shorter.
 */
export function trustedClientAddress(
  existingXff: string | undefined,
  peer: string,
  numTrustedProxies: number,
): string {
  if (numTrustedProxies <= 0 || existingXff === undefined || existingXff === '') return peer
  const entries = existingXff.split(',')
  const entry = entries[entries.length - numTrustedProxies]
  if (entry === undefined) return peer
  const ip = entry.trim()
  return ip === '' ? peer : ip
}

/**
 * X-Forwarded-Proto: the listener's scheme, overwriting what the client sent, unless there are
 * trusted proxies in front and one of them set it.
 */
export function forwardedProto(
  clientValue: string | undefined,
  listenerScheme: string,
  numTrustedProxies: number,
): string {
  if (numTrustedProxies > 0 && clientValue !== undefined && clientValue !== '') return clientValue
  return listenerScheme
}

/** Envoy's internal addresses (RFC 1918, loopback, IPv6 ULA); only external clients are named. */
export function isInternalAddress(ip: string): boolean {
  if (ip.includes(':')) return ip === '::1' || /^f[cd][0-9a-f]{2}:/i.test(ip)
  if (ip.startsWith('10.') || ip.startsWith('127.') || ip.startsWith('192.168.')) return true
  if (ip.startsWith('172.')) {
    const second = Number(ip.split('.')[1])
    return second >= 16 && second <= 31
  }
  return false
}
