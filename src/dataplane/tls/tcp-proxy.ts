/**
 * Pipes a downstream connection to one upstream endpoint, untouched (TCP routes, TLS
 * passthrough, terminated TLS with tcp routes). Either side closing or failing closes both.
 */
import { connect, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { formatAddress } from '../record/address.js'
import { Details } from '../record/details.js'
import { Flag } from '../record/flags.js'
import type { L4Connection } from '../record/connection-record.js'

export interface L4Endpoint {
  readonly ip: string
  readonly port: number
}

const CONNECT_TIMEOUT_MS = 10_000

/**
 * `prefix`: bytes already read from the client (a peeked ClientHello) to send first. `conn` is
 * told the upstream, counts the bytes and is completed once, when both sides are closed: `UF`
 * when the upstream never connected.
 */
export function proxyConnection(
  downstream: Duplex,
  endpoint: L4Endpoint,
  conn: L4Connection,
  prefix?: Buffer,
): void {
  const upstream: Socket = connect({ host: endpoint.ip, port: endpoint.port, noDelay: true })
  conn.upstreamHost = formatAddress(endpoint.ip, endpoint.port)
  conn.open()
  let isConnected = false
  upstream.setTimeout(CONNECT_TIMEOUT_MS, () => upstream.destroy())
  upstream.once('connect', () => {
    isConnected = true
    upstream.setTimeout(0)
  })
  if (prefix !== undefined && prefix.length > 0) upstream.write(prefix)
  conn.meter(downstream, upstream, prefix?.length ?? 0)
  let closed = 0
  const onClose = (): void => {
    downstream.destroy()
    upstream.destroy()
    // Both 'close' events have fired: every byte either way has been counted.
    if (++closed < 2) return
    if (isConnected) conn.complete()
    else conn.complete(Flag.UF, Details.upstreamConnectFailure)
  }
  const fail = (): void => {
    downstream.destroy()
    upstream.destroy()
  }
  upstream.on('error', fail)
  downstream.on('error', fail)
  upstream.once('close', onClose)
  downstream.once('close', onClose)
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
