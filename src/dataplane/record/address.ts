/** How records print addresses and protocols: Envoy's formats, in one place. */
import type { Socket } from 'node:net'

/** `::ffff:10.0.0.1` (an IPv4 client on a dual-stack socket) as `10.0.0.1`, as Envoy logs it. */
export function unmappedIp(address: string | undefined): string {
  if (address === undefined) return ''
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7)
  return address
}

/** Envoy's address format: `1.2.3.4:80`, `[::1]:80`; '' when the address is unknown. */
export function formatAddress(address: string | undefined, port: number | undefined): string {
  const ip = unmappedIp(address)
  if (ip === '') return ''
  const host = ip.includes(':') ? `[${ip}]` : ip
  return port === undefined ? host : `${host}:${port}`
}

/** Node's `httpVersion` as Envoy's %PROTOCOL% prints it: `HTTP/1.1`, `HTTP/1.0`, `HTTP/2`. */
export function protocolName(httpVersion: string): string {
  if (httpVersion === '1.1') return 'HTTP/1.1'
  if (httpVersion === '2.0') return 'HTTP/2'
  return `HTTP/${httpVersion}`
}

/** A connection's two ends, read while it is open (a closed socket reports no addresses). */
export interface SocketAddresses {
  readonly remote: string
  readonly local: string
}

export function socketAddresses(socket: Socket): SocketAddresses {
  return {
    remote: formatAddress(socket.remoteAddress, socket.remotePort),
    local: formatAddress(socket.localAddress, socket.localPort),
  }
}
