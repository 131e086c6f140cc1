import type { CompiledRouteTable, CompiledVirtualHost } from './compile.js'

/**
 * Envoy's virtual-host precedence: an exact domain, then the longest wildcard suffix, then `*`.
 * `host` must already be normalised (lower case, no port: Istio ignores the port in Host).
 */
export function selectVirtualHost(
  table: CompiledRouteTable,
  host: string,
): CompiledVirtualHost | undefined {
  const exact = table.exact.get(host)
  if (exact !== undefined) return exact
  const wildcards = table.wildcards
  for (let i = 0; i < wildcards.length; i++) {
    const w = wildcards[i]!
    if (host.length > w.suffix.length && host.endsWith(w.suffix)) return w.virtualHost
  }
  return table.catchAll
}
