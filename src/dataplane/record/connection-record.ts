/**
 * The record of one L4 connection (TCP routes, TLS PASSTHROUGH and terminated tcp routes, SNI
 * egress). The connection's addresses are read when it is accepted (a closed socket reports
 * none); bytes are the payload proxied each way, the peeked ClientHello included, so a
 * terminated connection counts the plaintext it carried, as Envoy's TCP proxy does. The observer
 * hears `open` once the destination is decided and `complete` exactly once at close.
 */
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { ConnectionRecord, RequestObserver } from '../../observe/events.js'
import { socketAddresses, type SocketAddresses } from './address.js'
import { formatFlags } from './flags.js'

export type ConnectionSink = Pick<RequestObserver, 'onConnectionOpen' | 'onConnectionComplete'>

export class L4Connection {
  readonly #sink: ConnectionSink | undefined
  readonly #addresses: SocketAddresses
  readonly #startTime = Date.now()
  readonly #listener: string
  readonly #scheme: 'http' | 'https'
  /** SNI of the ClientHello, when there was one. */
  serverName: string | undefined
  /** `ip:port` connected to. */
  upstreamHost: string | undefined
  upstreamCluster: string | undefined
  destinationService: string | undefined
  /** Flag bits (flags.ts). */
  flags = 0
  details = ''
  bytesReceived = 0
  bytesSent = 0
  #isOpen = false
  #isDone = false

  constructor(
    sink: ConnectionSink | undefined,
    socket: Socket,
    listener: string,
    scheme: 'http' | 'https',
  ) {
    this.#sink = sink
    this.#addresses = socketAddresses(socket)
    this.#listener = listener
    this.#scheme = scheme
  }

  /**
   * Counts what flows each way between the client and the upstream, from now on: what one side
   * sends once the other can no longer take it (a TLS alert after the client left) is not passed
   * on, so it is not counted.
   */
  meter(downstream: Duplex, upstream: Duplex, alreadyReceived: number): void {
    this.bytesReceived += alreadyReceived
    downstream.on('data', (chunk: Buffer) => {
      if (upstream.writable) this.bytesReceived += chunk.length
    })
    upstream.on('data', (chunk: Buffer) => {
      if (downstream.writable) this.bytesSent += chunk.length
    })
  }

  /** The destination is decided (or the connection refused): counted as opened, once. */
  open(): void {
    if (this.#isOpen) return
    this.#isOpen = true
    this.#sink?.onConnectionOpen?.(this.record())
  }

  /** The connection is over: one record, however many close paths fire. */
  complete(flags = 0, details?: string): void {
    if (this.#isDone) return
    this.flags |= flags
    if (details !== undefined) this.details = details
    this.open()
    this.#isDone = true
    this.#sink?.onConnectionComplete?.(this.record())
  }

  record(): ConnectionRecord {
    return {
      startTime: this.#startTime,
      durationMs: Math.max(0, Date.now() - this.#startTime),
      method: '',
      path: '',
      protocol: '',
      scheme: this.#scheme,
      authority: '',
      requestHeaders: {},
      responseHeaders: undefined,
      requestId: '',
      status: 0,
      responseFlags: formatFlags(this.flags),
      responseCodeDetails: this.details,
      bytesReceived: this.bytesReceived,
      bytesSent: this.bytesSent,
      upstreamHost: this.upstreamHost,
      upstreamCluster: this.upstreamCluster,
      upstreamServiceTimeMs: undefined,
      destinationService: this.destinationService,
      routeName: undefined,
      listener: this.#listener,
      downstreamRemoteAddress: this.#addresses.remote,
      downstreamLocalAddress: this.#addresses.local,
      requestedServerName: this.serverName,
    }
  }
}
