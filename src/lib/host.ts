/**
 * Host names and wildcards with Istio's rules: a wildcard is `*` alone or a leading `*.` label
 * (`*.example.com` covers `a.example.com` and `a.b.example.com`, never `example.com`).
 * Matching is case-insensitive; callers pass lower-case names (see normalizeHost).
 */

export function isWildcardHost(host: string): boolean {
  return host.startsWith('*')
}

/** Does `pattern` (exact or wildcard) cover the concrete or wildcard name `host`? */
export function hostCovers(pattern: string, host: string): boolean {
  if (pattern === '*') return true
  if (pattern.startsWith('*')) {
    const suffix = pattern.slice(1) // ".example.com"
    if (host.startsWith('*')) return host.slice(1).endsWith(suffix)
    return host.length > suffix.length && host.endsWith(suffix)
  }
  return pattern === host
}

/** Istio's host intersection: the more specific of two names when one covers the other. */
export function intersectHosts(a: string, b: string): string | undefined {
  if (hostCovers(a, b)) return b
  if (hostCovers(b, a)) return a
  return undefined
}

/**
 * Normalises a Host/:authority value for matching: lower case, port removed, one trailing dot
 * removed. Returns undefined for values that are not a host (empty, spaces, non-ASCII).
 */
export function normalizeHost(authority: string): string | undefined {
  let h = authority
  if (h.startsWith('[')) {
    const end = h.indexOf(']')
    if (end < 0) return undefined
    h = h.slice(0, end + 1)
  } else {
    const colon = h.lastIndexOf(':')
    if (colon >= 0) h = h.slice(0, colon)
  }
  if (h.endsWith('.')) h = h.slice(0, -1)
  if (h === '' || !/^[\x21-\x7e]+$/.test(h)) return undefined
  return h.toLowerCase()
}

/** The port of an authority, if it has one. */
export function authorityPort(authority: string): number | undefined {
  const close = authority.lastIndexOf(']')
  const colon = authority.lastIndexOf(':')
  if (colon < 0 || colon < close) return undefined
  const n = Number(authority.slice(colon + 1))
  return Number.isInteger(n) && n > 0 && n < 65536 ? n : undefined
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i

/** Validates a DNS name as Istio does (one optional leading `*` label). Returns a reason or undefined. */
export function checkDnsName(host: string, opts: { allowWildcard: boolean }): string | undefined {
  if (host === '') return 'host must not be empty'
  if (host.length > 255) return 'host is longer than 255 characters'
  if (host === '*') return opts.allowWildcard ? undefined : 'a bare "*" is not allowed here'
  let name = host
  if (host.startsWith('*.')) {
    if (!opts.allowWildcard) return 'wildcard hosts are not allowed here'
    name = host.slice(2)
  } else if (host.includes('*')) {
    return 'a wildcard must be the whole first label, as in "*.example.com"'
  }
  if (name.endsWith('.')) name = name.slice(0, -1)
  for (const label of name.split('.')) {
    if (!LABEL.test(label)) return `"${label}" is not a valid DNS label`
  }
  return undefined
}
