import { Pool } from 'undici'
import type { Logger } from '../../lib/index.js'
import { endpointAddress } from './endpoint.js'

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

interface Entry {
  readonly pool: Pool
  refs: number
}

/**
 * One undici Pool per endpoint (`ip:port` and connect timeout), reference-counted so that
 * clusters and DNS answers sharing an address share its keep-alive connections, and a pool
 * survives reloads as long as some cluster still uses the address.
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

  acquire(ip: string, port: number, connectTimeoutMs: number): Pool {
    const key = `${endpointAddress(ip, port)}|${connectTimeoutMs}`
    let entry = this.#entries.get(key)
    if (entry === undefined) {
      const s = this.#settings
      const pool = new Pool(`http://${endpointAddress(ip, port)}`, {
        connections: s.connectionsPerEndpoint,
        pipelining: 1,
        connectTimeout: connectTimeoutMs,
        keepAliveTimeout: s.keepAliveTimeoutMs,
        keepAliveMaxTimeout: Math.max(s.keepAliveTimeoutMs, 600_000),
        maxHeaderSize: s.maxHeaderBytes,
      })
      entry = { pool, refs: 0 }
      this.#entries.set(key, entry)
    }
    entry.refs++
    return entry.pool
  }

  /** Drops one reference; the last one closes the pool once its in-flight requests finish. */
  release(ip: string, port: number, connectTimeoutMs: number): void {
    const key = `${endpointAddress(ip, port)}|${connectTimeoutMs}`
    const entry = this.#entries.get(key)
    if (entry === undefined) return
    if (--entry.refs > 0) return
    this.#entries.delete(key)
    entry.pool.close().catch((err: unknown) => {
      this.#log.debug('upstream pool close failed', { endpoint: key, err })
    })
  }

  /** Shutdown: every pool is destroyed, cancelling what is still in flight. */
  async destroyAll(): Promise<void> {
    const pools = [...this.#entries.values()].map((e) => e.pool)
    this.#entries.clear()
    await Promise.allSettled(pools.map((p) => p.destroy()))
  }
}
