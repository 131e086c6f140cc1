/**
 * Query parameters as Envoy's route matcher sees them: `a=1&b&c=` split on `&`, each key and
 * value percent-decoded, the first occurrence of a key wins, and a bare `key` has the value ''.
 */
export function findQueryParam(query: string, name: string): string | undefined {
  if (query === '') return undefined
  let start = 0
  while (start <= query.length) {
    let end = query.indexOf('&', start)
    if (end < 0) end = query.length
    if (end > start) {
      const eq = query.indexOf('=', start)
      const keyEnd = eq >= 0 && eq < end ? eq : end
      if (decodeComponent(query.slice(start, keyEnd)) === name) {
        return keyEnd === end ? '' : decodeComponent(query.slice(keyEnd + 1, end))
      }
    }
    start = end + 1
  }
  return undefined
}

function decodeComponent(s: string): string {
  if (!s.includes('%')) return s
  try {
    return decodeURIComponent(s)
  } catch {
    // Malformed escapes stay as they were, as Envoy leaves undecodable sequences alone.
    return s
  }
}
