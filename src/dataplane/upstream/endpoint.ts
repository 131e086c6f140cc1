import type { Pool } from 'undici'
import type { H2Pool } from './h2-pool.js'

/**
 * One resolved upstream address with its connection pool and the live state balancing and
 * outlier detection keep about it. Shared by every request to it; lives as long as its cluster
 * runtime, so a reload that keeps the cluster keeps the counters and ejections.
 */
export interface UpstreamEndpoint {
  /** `ip:port` (`[v6]:port`), as access logs show the upstream host. */
  readonly address: string
  readonly ip: string
  readonly port: number
  readonly weight: number
  readonly pool: Pool
  /** HTTP/2 sessions to the endpoint, when its cluster may speak HTTP/2. */
  readonly h2Pool: H2Pool | undefined
  /** PoolSet key the pool was acquired under. */
  readonly poolKey: string
  /** SNI for TLS origination (undefined: plaintext, or an IP as sni). */
  readonly servername: string | undefined
  /** Requests in flight to this endpoint (LEAST_REQUEST). */
  active: number
  /** Outlier detection: consecutive errors by kind (reset by a success of the same origin). */
  consecutive5xx: number
  consecutiveGateway: number
  consecutiveLocal: number
  /** Epoch ms until which the endpoint is ejected; 0 when it is not. */
  ejectedUntil: number
  /** How many times it has been ejected (the ejection time grows with it). */
  ejections: number
}

export function endpointAddress(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`
}

/** Whether the endpoint may take traffic at `now`; an ejection that has run out ends here. */
export function isAvailable(e: UpstreamEndpoint, now: number): boolean {
  if (e.ejectedUntil === 0) return true
  if (e.ejectedUntil > now) return false
  e.ejectedUntil = 0
  return true
}
