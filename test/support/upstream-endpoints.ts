/**
 * Endpoint records for unit tests of the balancers and outlier detection: addresses
 * 10.0.0.1…n on port 80, optional weights, no connection pools (neither touches them).
 */
import type { Pool } from 'undici'
import { endpointAddress, type UpstreamEndpoint } from '../../src/dataplane/upstream/endpoint.js'

export function testEndpoints(n: number, weights: readonly number[] = []): UpstreamEndpoint[] {
  return Array.from({ length: n }, (_, i) => ({
    address: endpointAddress(`10.0.0.${i + 1}`, 80),
    ip: `10.0.0.${i + 1}`,
    port: 80,
    weight: weights[i] ?? 1,
    pool: undefined as unknown as Pool,
    h2Pool: undefined,
    poolKey: `10.0.0.${i + 1}:80`,
    servername: undefined,
    active: 0,
    consecutive5xx: 0,
    consecutiveGateway: 0,
    consecutiveLocal: 0,
    ejectedUntil: 0,
    ejections: 0,
  }))
}
