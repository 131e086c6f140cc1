import { lookup } from 'node:dns/promises'
import { Resolver } from 'node:dns/promises'

export interface Resolved {
  /** Addresses in the answer's order; IPv4 when there are any, else IPv6. */
  readonly addresses: readonly string[]
  /** Smallest TTL of the answer in ms; undefined when the system resolver answered (no TTL). */
  readonly ttlMs: number | undefined
}

export interface HostResolver {
  /** Rejects when the name cannot be resolved at all. */
  resolve(name: string): Promise<Resolved>
}

export interface HostResolverOptions {
  /** DNS servers (`ip` or `ip:port`); the system's servers when absent. */
  readonly servers?: readonly string[]
  readonly timeoutMs?: number
  readonly tries?: number
}

/**
 * Resolves upstream names for DNS clusters: A records first, then AAAA (Envoy's V4_PREFERRED),
 * with TTLs from the answer. When DNS has no answer, getaddrinfo is asked, so /etc/hosts names
 * such as `localhost` work as they would for any other program on the host.
 */
export function createHostResolver(opts: HostResolverOptions = {}): HostResolver {
  const resolver = new Resolver({ timeout: opts.timeoutMs ?? 2000, tries: opts.tries ?? 2 })
  if (opts.servers !== undefined && opts.servers.length > 0) resolver.setServers([...opts.servers])

  async function query(name: string, family: 4 | 6): Promise<Resolved | undefined> {
    try {
      const records =
        family === 4
          ? await resolver.resolve4(name, { ttl: true })
          : await resolver.resolve6(name, { ttl: true })
      if (records.length === 0) return undefined
      return {
        addresses: records.map((r) => r.address),
        ttlMs: Math.min(...records.map((r) => r.ttl)) * 1000,
      }
    } catch {
      return undefined
    }
  }

  return {
    async resolve(name) {
      const answer = (await query(name, 4)) ?? (await query(name, 6))
      if (answer !== undefined) return answer
      const found = await lookup(name, { all: true, verbatim: true })
      const v4 = found.filter((a) => a.family === 4)
      const chosen = v4.length > 0 ? v4 : found
      if (chosen.length === 0) throw new Error(`no address for ${name}`)
      return { addresses: chosen.map((a) => a.address), ttlMs: undefined }
    },
  }
}
