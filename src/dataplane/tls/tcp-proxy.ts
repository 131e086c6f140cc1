/**
 * Pipes a downstream connection to one upstream endpoint, untouched (TCP routes, TLS
 * passthrough, terminated TLS with tcp routes). Either side closing or failing closes both.
 */
import { connect, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'

export interface L4Endpoint {
  readonly ip: string
  readonly port: number
}

const CONNECT_TIMEOUT_MS = 10_000

/** `prefix`: bytes already read from the client (a peeked ClientHello) to send first. */
export function proxyConnection(downstream: Duplex, endpoint: L4Endpoint, prefix?: Buffer): void {
  const upstream: Socket = connect({ host: endpoint.ip, port: endpoint.port, noDelay: true })
  upstream.setTimeout(CONNECT_TIMEOUT_MS, () => upstream.destroy())
  upstream.once('connect', () => upstream.setTimeout(0))
  if (prefix !== undefined && prefix.length > 0) upstream.write(prefix)
  const close = (): void => {
    downstream.destroy()
    upstream.destroy()
  }
  upstream.on('error', close)
  downstream.on('error', close)
  upstream.on('close', close)
  downstream.on('close', close)
  downstream.pipe(upstream)
  upstream.pipe(downstream)
}

/** Weighted pick of a destination for one connection (weights are relative). */
export function pickWeighted<T extends { readonly weight: number }>(
  items: readonly T[],
  total: number,
): T | undefined {
  if (items.length <= 1) return items[0]
  let r = Math.random() * total
  for (const item of items) {
    r -= item.weight
    if (r < 0) return item
  }
  return items[items.length - 1]
}
