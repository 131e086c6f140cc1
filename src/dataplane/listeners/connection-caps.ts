/**
 * GatewayConfig `downstream.maxConnections` and `maxConnectionsPerClient`: caps on the open
 * downstream connections of one listener, in total and per client IP, checked when a connection
 * is accepted. Over a cap the socket is closed before anything is read from it; each refusal is
 * counted (metric) and logged at most once per LOG_INTERVAL_MS per listener, with the count.
 * The counts are this process's; a connection is counted until its socket closes.
 */
import type { Socket } from 'node:net'
import type * as ir from '../../ir/index.js'
import type { Logger } from '../../lib/index.js'

export type ConnectionRefusal = 'max_connections' | 'max_connections_per_client'

const LOG_INTERVAL_MS = 10_000

export interface ConnectionCapsHooks {
  readonly log: Logger
  readonly onRefused: ((listener: string, reason: ConnectionRefusal) => void) | undefined
}

export class ConnectionCaps {
  #maxTotal: number
  #maxPerClient: number
  #total = 0
  readonly #perClient = new Map<string, number>()
  readonly #listener: string
  readonly #hooks: ConnectionCapsHooks
  #refusedSinceLog = 0
  #lastLogAt = -Infinity

  constructor(listener: string, limits: ir.DownstreamLimits, hooks: ConnectionCapsHooks) {
    this.#listener = listener
    this.#hooks = hooks
    this.#maxTotal = limits.maxConnections ?? Infinity
    this.#maxPerClient = limits.maxConnectionsPerClient ?? Infinity
  }

  /** A reload changed the caps: they apply to connections accepted from now on. */
  setLimits(limits: ir.DownstreamLimits): void {
    this.#maxTotal = limits.maxConnections ?? Infinity
    this.#maxPerClient = limits.maxConnectionsPerClient ?? Infinity
  }

  get isCapped(): boolean {
    return this.#maxTotal !== Infinity || this.#maxPerClient !== Infinity
  }

  /** Counts the connection until it closes, or closes it now and returns false. */
  admit(socket: Socket): boolean {
    if (!this.isCapped) return true
    if (this.#total >= this.#maxTotal) return this.#refuse(socket, 'max_connections')
    const ip = socket.remoteAddress ?? ''
    const held = this.#perClient.get(ip) ?? 0
    if (held >= this.#maxPerClient) return this.#refuse(socket, 'max_connections_per_client')
    this.#total++
    this.#perClient.set(ip, held + 1)
    socket.once('close', () => this.#release(ip))
    return true
  }

  /** Connections counted now (tests, stats). */
  get open(): number {
    return this.#total
  }

  #release(ip: string): void {
    this.#total--
    const held = this.#perClient.get(ip) ?? 1
    if (held <= 1) this.#perClient.delete(ip)
    else this.#perClient.set(ip, held - 1)
  }

  #refuse(socket: Socket, reason: ConnectionRefusal): false {
    socket.destroy()
    this.#hooks.onRefused?.(this.#listener, reason)
    this.#refusedSinceLog++
    const now = performance.now()
    if (now - this.#lastLogAt >= LOG_INTERVAL_MS) {
      this.#hooks.log.warn('downstream connections refused over the listener cap', {
        listener: this.#listener,
        reason,
        refused: this.#refusedSinceLog,
        maxConnections: this.#maxTotal === Infinity ? undefined : this.#maxTotal,
        maxConnectionsPerClient: this.#maxPerClient === Infinity ? undefined : this.#maxPerClient,
      })
      this.#refusedSinceLog = 0
      this.#lastLogAt = now
    }
    return false
  }
}
