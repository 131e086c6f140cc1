/**
 * GatewayConfig `downstream.maxConnections` and `maxConnectionsPerClient`: caps on the open
 * downstream connections of one listener, in total and per client IP, checked when a connection
 * is accepted. Over a cap the socket is closed before anything is read from it; each refusal is
 * counted (metric) and logged at most once per LOG_INTERVAL_MS per listener, with the count.
 * The counts are this process's; a connection is counted until its socket closes.
 *
 * With a shared limiter (GatewayConfig `redis`, or the primary's store in cluster workers) the
 * caps hold across every replica too: an admitted socket is paused and holds concurrency leases
 * `dc:<port>` (total) and `dcip:<port>:<client ip>` (per client) before it is handed on, and
 * gives them back when it closes. The key is the port, not the listener id, so replicas that bind
 * different addresses still share one count. A store failure follows its failure mode (open:
 * the store's local limiter decides). Without a shared limiter nothing here awaits.
 */
import type { Socket } from 'node:net'
import type * as ir from '../../ir/index.js'
import type { Logger } from '../../lib/index.js'
import type { AcquireOptions, ConcurrencyLimiter, Lease } from '../../state/ports.js'

export type ConnectionRefusal = 'max_connections' | 'max_connections_per_client'

const LOG_INTERVAL_MS = 10_000

export interface ConnectionCapsHooks {
  readonly log: Logger
  readonly onRefused: ((listener: string, reason: ConnectionRefusal) => void) | undefined
}

/** The limiter every replica (or worker) counts in, and how long a dead holder's slots last. */
export interface SharedConnectionCaps {
  readonly limiter: ConcurrencyLimiter
  readonly leaseTtlMs: number
}

interface SharedScope {
  readonly limiter: ConcurrencyLimiter
  readonly lease: AcquireOptions
  readonly totalKey: string
  /** Followed by the client IP. */
  readonly clientKeyPrefix: string
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
  readonly #shared: SharedScope | undefined

  /** `port` and `shared`: the caps also hold across everything sharing the limiter. */
  constructor(
    listener: string,
    limits: ir.DownstreamLimits,
    hooks: ConnectionCapsHooks,
    shared?: SharedConnectionCaps & { readonly port: number },
  ) {
    this.#listener = listener
    this.#hooks = hooks
    this.#maxTotal = limits.maxConnections ?? Infinity
    this.#maxPerClient = limits.maxConnectionsPerClient ?? Infinity
    this.#shared =
      shared === undefined
        ? undefined
        : {
            limiter: shared.limiter,
            lease: { leaseTtlMs: shared.leaseTtlMs, failureMode: 'open' },
            totalKey: `dc:${shared.port}`,
            clientKeyPrefix: `dcip:${shared.port}:`,
          }
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

  /** True when an admitted socket must also take shared leases (admitShared) before use. */
  get isShared(): boolean {
    return this.#shared !== undefined && this.isCapped
  }

  /**
   * After admit(): pauses the socket, takes its shared leases and calls `next` with it, or
   * closes it over a cap. Nothing is read from the socket before `next`; it is resumed after.
   * The leases are given back when the socket closes.
   */
  admitShared(socket: Socket, next: (socket: Socket) => void): void {
    socket.pause()
    void this.#acquire(this.#shared!, socket, next, this.#maxTotal, this.#maxPerClient)
  }

  async #acquire(
    scope: SharedScope,
    socket: Socket,
    next: (socket: Socket) => void,
    maxTotal: number,
    maxPerClient: number,
  ): Promise<void> {
    const held: Lease[] = []
    let isClosed = false
    socket.once('close', () => {
      isClosed = true
      for (const lease of held) void lease.release()
    })
    const take = async (key: string, max: number): Promise<boolean> => {
      let lease: Lease | undefined
      try {
        lease = await scope.limiter.acquire(key, max, scope.lease)
      } catch {
        // The store's contract is never to reject; if it does, admit (fail-open) uncounted.
        return true
      }
      if (lease === undefined) return false
      if (isClosed) void lease.release()
      else held.push(lease)
      return true
    }
    if (maxTotal !== Infinity && !(await take(scope.totalKey, maxTotal))) {
      if (!isClosed) this.#refuse(socket, 'max_connections')
      return
    }
    if (isClosed) return
    const ip = socket.remoteAddress ?? ''
    if (maxPerClient !== Infinity && !(await take(scope.clientKeyPrefix + ip, maxPerClient))) {
      if (!isClosed) this.#refuse(socket, 'max_connections_per_client')
      return
    }
    if (isClosed) return
    next(socket)
    socket.resume()
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
