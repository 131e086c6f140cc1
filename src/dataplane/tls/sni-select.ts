/**
 * Envoy's filter chain match on server names: exact name, then the longest `*.suffix` wildcard,
 * then `*`. Built once per snapshot; a lookup is a map probe per label.
 */
export interface SniTable<T> {
  select(serverName: string | undefined): T | undefined
}

export function createSniTable<T>(
  entries: readonly (readonly [host: string, value: T])[],
): SniTable<T> {
  const exact = new Map<string, T>()
  const suffix = new Map<string, T>() // '.example.com' for '*.example.com'
  let any: T | undefined
  for (const [host, value] of entries) {
    if (host === '*') any ??= value
    else if (host.startsWith('*.')) {
      if (!suffix.has(host.slice(1))) suffix.set(host.slice(1), value)
    } else if (!exact.has(host)) exact.set(host, value)
  }
  return {
    select(serverName) {
      if (serverName === undefined || serverName === '') return any
      const name = serverName.endsWith('.') ? serverName.slice(0, -1) : serverName
      const hit = exact.get(name)
      if (hit !== undefined) return hit
      // Longest suffix first: walk the dots left to right.
      for (let i = name.indexOf('.'); i > 0; i = name.indexOf('.', i + 1)) {
        const s = suffix.get(name.slice(i))
        if (s !== undefined) return s
      }
      return any
    },
  }
}
