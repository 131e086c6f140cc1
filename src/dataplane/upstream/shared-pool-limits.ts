/**
 * DestinationRule connection-pool limits shared by every replica (GatewayConfig `redis`): the
 * per-process breaker of ClusterRuntime stays, and on top of it each request of a limited cluster
 * holds concurrency leases (state/ports) keyed by cluster id, so `maxConnections: 5` means 5
 * across all replicas:
 *
 * - `rq:<cluster id>`, max `http.http2MaxRequests`: taken at admission; none free → 503 UO.
 * - `cx:<cluster id>`, max `tcp.maxConnections`: taken before the request goes upstream. An
 *   HTTP/1.1 upstream connection carries one request at a time, so this bounds the upstream
 *   connections in use. None free → the request waits (pending), FIFO per process; one acquire
 *   at a time per cluster retries for the head of the queue, at once when a slot of this process
 *   is released and every POLL_MS otherwise (slots released by other replicas).
 * - `pq:<cluster id>`, max `http.http1MaxPendingRequests`: held while waiting; none free →
 *   503 UO. Without the setting pending requests are not limited (Istio's default).
 *
 * HTTP/2 upstreams multiplex requests on few connections, so `cx` is not taken for them.
 * Leases carry a TTL renewed by the store's heartbeat: a crashed replica's slots come back
 * within the TTL. Fail-open: while Redis is unreachable each replica admits
 * ceil(max / expectedReplicas) locally.
 */
import type * as ir from '../../ir/index.js'
import type { AcquireOptions, ConcurrencyLimiter, Lease } from '../../state/ports.js'

/** How often waiting requests look for a slot another replica released. */
const POLL_MS = 20

export interface SharedPoolLimitsOptions {
  readonly limiter: ConcurrencyLimiter
  /** How long a crashed replica's slots stay taken. */
  readonly leaseTtlMs: number
}

/** Called once: admitted (true) or overflow (false). Not called after the ticket is released. */
export type AdmitCallback<T> = (owner: T, isAdmitted: boolean) => void

/** One request's place under the shared limits; release() when the request ends (idempotent). */
export interface PoolTicket {
  release(): void
}

/** The shared limits of one cluster, or undefined when its policy sets none. */
export function createSharedPoolLimits(
  cluster: ir.Cluster,
  options: SharedPoolLimitsOptions,
): SharedPoolLimits | undefined {
  const cp = cluster.policy?.connectionPool
  if (cp === undefined) return undefined
  const isMultiplexed = cluster.protocol === 'HTTP2' || cluster.protocol === 'GRPC'
  const maxConnections = isMultiplexed ? undefined : cp.maxConnections
  if (maxConnections === undefined && cp.maxRequests === undefined) return undefined
  return new SharedPoolLimits(
    cluster.id,
    {
      ...(maxConnections !== undefined ? { maxConnections } : {}),
      ...(cp.maxRequests !== undefined ? { maxRequests: cp.maxRequests } : {}),
      ...(maxConnections !== undefined && cp.maxPendingRequests !== undefined
        ? { maxPendingRequests: cp.maxPendingRequests }
        : {}),
    },
    options,
  )
}

export interface SharedPoolMaxima {
  readonly maxConnections?: number
  readonly maxPendingRequests?: number
  readonly maxRequests?: number
}

class Ticket implements PoolTicket {
  request: Lease | undefined = undefined
  connection: Lease | undefined = undefined
  pending: Lease | undefined = undefined
  isReleased = false
  isWaiting = false

  constructor(
    readonly limits: SharedPoolLimits,
    readonly owner: unknown,
    readonly done: AdmitCallback<unknown>,
  ) {}

  release(): void {
    if (this.isReleased) return
    this.isReleased = true
    this.isWaiting = false
    if (this.request !== undefined) void this.request.release()
    if (this.pending !== undefined) void this.pending.release()
    if (this.connection !== undefined) {
      void this.connection.release()
      this.limits.onConnectionReleased()
    }
  }
}

export class SharedPoolLimits {
  readonly #requestKey: string
  readonly #connectionKey: string
  readonly #pendingKey: string
  readonly #max: SharedPoolMaxima
  readonly #limiter: ConcurrencyLimiter
  readonly #lease: AcquireOptions
  readonly #waiting: Ticket[] = []
  #isPumping = false
  #timer: NodeJS.Timeout | undefined

  constructor(clusterId: string, max: SharedPoolMaxima, options: SharedPoolLimitsOptions) {
    this.#requestKey = `rq:${clusterId}`
    this.#connectionKey = `cx:${clusterId}`
    this.#pendingKey = `pq:${clusterId}`
    this.#max = max
    this.#limiter = options.limiter
    this.#lease = { leaseTtlMs: options.leaseTtlMs, failureMode: 'open' }
  }

  /** Requests of this process waiting for a connection slot (tests, metrics). */
  get waiting(): number {
    let n = 0
    for (const t of this.#waiting) if (t.isWaiting) n++
    return n
  }

  /** Starts admission of one request; `done` is called later, never synchronously. */
  enter<T>(owner: T, done: AdmitCallback<T>): PoolTicket {
    const ticket = new Ticket(this, owner, done as AdmitCallback<unknown>)
    const max = this.#max
    if (
      max.maxRequests === undefined &&
      max.maxConnections !== undefined &&
      this.#waiting.length === 0
    ) {
      // The common case, one lease: a callback on the acquire instead of an async function's
      // promise and resumption per request.
      void this.#limiter
        .acquire(this.#connectionKey, max.maxConnections, this.#lease)
        .then((lease) => this.#onConnection(ticket, lease, max))
    } else void this.#admit(ticket)
    return ticket
  }

  #onConnection(ticket: Ticket, lease: Lease | undefined, max: SharedPoolMaxima): void {
    if (!keep(ticket, lease)) return
    if (lease === undefined) return void this.#waitForConnection(ticket, max)
    ticket.connection = lease
    ticket.done(ticket.owner, true)
  }

  async #admit(ticket: Ticket): Promise<void> {
    const max = this.#max
    if (
      max.maxRequests !== undefined &&
      max.maxConnections !== undefined &&
      this.#waiting.length === 0
    ) {
      // Both leases in one store round trip; `cx` only when `rq` was granted.
      const [request, connection] = await this.#limiter.acquirePair(
        { key: this.#requestKey, max: max.maxRequests },
        { key: this.#connectionKey, max: max.maxConnections },
        this.#lease,
      )
      if (ticket.isReleased) {
        keep(ticket, request)
        keep(ticket, connection)
        return
      }
      if (request === undefined) return ticket.done(ticket.owner, false)
      ticket.request = request
      if (connection !== undefined) {
        ticket.connection = connection
        return ticket.done(ticket.owner, true)
      }
      return this.#waitForConnection(ticket, max)
    }
    if (max.maxRequests !== undefined) {
      const lease = await this.#limiter.acquire(this.#requestKey, max.maxRequests, this.#lease)
      if (!keep(ticket, lease)) return
      if (lease === undefined) return ticket.done(ticket.owner, false)
      ticket.request = lease
    }
    if (max.maxConnections === undefined) return ticket.done(ticket.owner, true)
    if (this.#waiting.length === 0) {
      const lease = await this.#limiter.acquire(
        this.#connectionKey,
        max.maxConnections,
        this.#lease,
      )
      return this.#onConnection(ticket, lease, max)
    }
    return this.#waitForConnection(ticket, max)
  }

  /** No connection slot free now: hold a pending slot (if limited) and queue for one. */
  async #waitForConnection(ticket: Ticket, max: SharedPoolMaxima): Promise<void> {
    if (max.maxPendingRequests !== undefined) {
      const lease = await this.#limiter.acquire(
        this.#pendingKey,
        max.maxPendingRequests,
        this.#lease,
      )
      if (!keep(ticket, lease)) return
      if (lease === undefined) return ticket.done(ticket.owner, false)
      ticket.pending = lease
    }
    ticket.isWaiting = true
    this.#waiting.push(ticket)
    this.#pump()
  }

  /** A slot of this process came free: the head of the queue can have it now. */
  onConnectionReleased(): void {
    if (this.#waiting.length === 0) return
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    this.#pump()
  }

  #pump(): void {
    if (this.#isPumping || this.#timer !== undefined) return
    this.#dropReleased()
    if (this.#waiting.length === 0) return
    this.#isPumping = true
    this.#limiter.acquire(this.#connectionKey, this.#max.maxConnections!, this.#lease).then(
      (lease) => this.#onPumped(lease),
      () => this.#onPumped(undefined),
    )
  }

  #onPumped(lease: Lease | undefined): void {
    this.#isPumping = false
    this.#dropReleased()
    const head = this.#waiting.shift()
    if (lease === undefined || head === undefined) {
      if (lease !== undefined) void lease.release()
      if (head !== undefined) this.#waiting.unshift(head)
      if (this.#waiting.length > 0) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined
          this.#pump()
        }, POLL_MS)
        this.#timer.unref()
      }
      return
    }
    head.isWaiting = false
    head.connection = lease
    if (head.pending !== undefined) {
      void head.pending.release()
      head.pending = undefined
    }
    head.done(head.owner, true)
    this.#pump()
  }

  #dropReleased(): void {
    while (this.#waiting.length > 0 && this.#waiting[0]!.isReleased) this.#waiting.shift()
  }
}

/** False when the request ended while the store answered; the lease, if any, goes back. */
function keep(ticket: Ticket, lease: Lease | undefined): boolean {
  if (!ticket.isReleased) return true
  if (lease !== undefined) void lease.release()
  return false
}
