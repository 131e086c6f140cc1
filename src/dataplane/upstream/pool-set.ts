import { Pool } from './undici.js'
import type { Logger } from '../../lib/index.js'
import { endpointAddress } from './endpoint.js'
import { H2Pool } from './h2-pool.js'
import type { UpstreamTls } from './upstream-tls.js'

export interface PoolSettings {
  /** Upper bound of connections per endpoint; requests beyond it queue in the pool. */
  readonly connectionsPerEndpoint: number
  /** How long an idle upstream connection is kept (the server's Keep-Alive hint can shorten it). */
  readonly keepAliveTimeoutMs: number
  /** Largest upstream response head accepted (Envoy's default limit is 60 KiB). */
  readonly maxHeaderBytes: number
}

export const DEFAULT_POOL_SETTINGS: PoolSettings = {
  connectionsPerEndpoint: 1024,
  keepAliveTimeoutMs: 60_000,
  maxHeaderBytes: 64 * 1024,
}

/** What a cluster's DestinationRule connectionPool asks of the pool to one endpoint. */
export interface EndpointPoolOptions {
  readonly connectTimeoutMs: number
  readonly maxConnections?: number
  /** 0 leaves idle connections open (Istio's idleTimeout: 0s). */
  readonly idleTimeoutMs?: number
  /** 0: unlimited. */
  readonly maxRequestsPerConnection?: number
  /** TCP keepalive: delay before the first probe. */
  readonly keepaliveTimeMs?: number
  /** TLS origination (DestinationRule tls); absent: plaintext. */
  readonly tls?: UpstreamTls
  /** The cluster may speak HTTP/2 to its endpoints: a session pool is kept next to the pool. */
  readonly http2?: { readonly maxConcurrentStreams?: number }
}

interface Entry {
  readonly pool: Pool
  readonly h2Pool: H2Pool | undefined
  refs: number
}

/** Node's timers hold at most 2^31-1 ms; "never" is expressed as that. */
const NEVER_MS = 2_147_483_647

/**
 * One undici Pool per endpoint (`ip:port` and pool options), reference-counted so that
 * clusters and DNS answers sharing an address share its keep-alive connections, and a pool
 * survives reloads as long as some cluster still uses the address with the same options.
 */
export class PoolSet {
  readonly #entries = new Map<string, Entry>()
  readonly #settings: PoolSettings
  readonly #log: Logger

  constructor(settings: PoolSettings, log: Logger) {
    this.#settings = settings
    this.#log = log
  }

  get size(): number {
    return this.#entries.size
  }

  static keyOf(ip: string, port: number, o: EndpointPoolOptions): string {
    return `${endpointAddress(ip, port)}|${o.connectTimeoutMs}|${o.maxConnections ?? ''}|${o.idleTimeoutMs ?? ''}|${o.maxRequestsPerConnection ?? ''}|${o.keepaliveTimeMs ?? ''}|${o.tls?.key ?? ''}|${o.http2 === undefined ? '' : `h2:${o.http2.maxConcurrentStreams ?? ''}`}`
  }

  acquire(
    ip: string,
    port: number,
    o: EndpointPoolOptions,
  ): { pool: Pool; h2Pool: H2Pool | undefined; key: string } {
    const key = PoolSet.keyOf(ip, port, o)
    let entry = this.#entries.get(key)
    if (entry === undefined) {
      const s = this.#settings
      const idle =
        o.idleTimeoutMs === undefined
          ? s.keepAliveTimeoutMs
          : o.idleTimeoutMs === 0
            ? NEVER_MS
            : o.idleTimeoutMs
      const perConnection = o.maxRequestsPerConnection ?? 0
      const keepalive =
        o.keepaliveTimeMs !== undefined
          ? { keepAlive: true, keepAliveInitialDelay: o.keepaliveTimeMs }
          : {}
      const connect =
        o.tls?.connector !== undefined
          ? o.tls.connector(o.connectTimeoutMs, o.keepaliveTimeMs)
          : o.tls !== undefined
            ? { ...o.tls.connect, ...keepalive }
            : keepalive
      const scheme = o.tls !== undefined ? 'https' : 'http'
      const pool = new Pool(`${scheme}://${endpointAddress(ip, port)}`, {
        connections:
          o.maxConnections !== undefined && o.maxConnections > 0
            ? o.maxConnections
            : s.connectionsPerEndpoint,
        pipelining: 1,
        connectTimeout: o.connectTimeoutMs,
        keepAliveTimeout: idle,
        keepAliveMaxTimeout: Math.max(idle, 600_000),
        maxHeaderSize: s.maxHeaderBytes,
        ...(perConnection > 0 ? { maxRequestsPerClient: perConnection } : {}),
        ...(typeof connect === 'function' || Object.keys(connect).length > 0 ? { connect } : {}),
      })
      const h2Pool =
        o.http2 === undefined
          ? undefined
          : new H2Pool({
              ip,
              port,
              connectTimeoutMs: o.connectTimeoutMs,
              maxSessions:
                o.maxConnections !== undefined && o.maxConnections > 0
                  ? o.maxConnections
                  : s.connectionsPerEndpoint,
              maxConcurrentStreams: o.http2.maxConcurrentStreams,
              idleTimeoutMs: idle,
              maxHeaderBytes: s.maxHeaderBytes,
              ...(o.keepaliveTimeMs !== undefined ? { keepaliveTimeMs: o.keepaliveTimeMs } : {}),
              ...(o.tls !== undefined ? { tls: o.tls } : {}),
            })
      entry = { pool, h2Pool, refs: 0 }
      this.#entries.set(key, entry)
    }
    entry.refs++
    return { pool: entry.pool, h2Pool: entry.h2Pool, key }
  }

  /** Drops one reference; the last one closes the pool once its in-flight requests finish. */
  release(key: string): void {
    const entry = this.#entries.get(key)
    if (entry === undefined) return
    if (--entry.refs > 0) return
    this.#entries.delete(key)
    void entry.h2Pool?.close()
    entry.pool.close().catch((err: unknown) => {
      this.#log.debug('upstream pool close failed', { endpoint: key, err })
    })
  }

  /** Shutdown: every pool is destroyed, cancelling what is still in flight. */
  async destroyAll(): Promise<void> {
    const entries = [...this.#entries.values()]
    this.#entries.clear()
    await Promise.allSettled(entries.map((e) => e.h2Pool?.destroy() ?? Promise.resolve()))
    await Promise.allSettled(entries.map((e) => e.pool.destroy()))
  }
}
