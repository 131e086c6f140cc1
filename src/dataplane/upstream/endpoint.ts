import type { Pool } from 'undici'

/** One resolved upstream address with its connection pool. Shared by every request to it. */
export interface UpstreamEndpoint {
  /** `ip:port` (`[v6]:port`), as access logs show the upstream host. */
  readonly address: string
  readonly ip: string
  readonly port: number
  readonly weight: number
  readonly pool: Pool
}

export function endpointAddress(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`
}
