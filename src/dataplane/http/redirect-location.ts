import type * as ir from '../../ir/index.js'

/** What a Location is built from, besides the route's redirect action. */
export interface RedirectRequest {
  /** The scheme of the connection (Envoy's :scheme). */
  readonly scheme: string
  /** X-Forwarded-Proto as the gateway computed it; Envoy strips default ports against it. */
  readonly forwardedProto: string
  /** The Host header as sent, port included. */
  readonly authority: string
  readonly path: string
  readonly query: string
  readonly listenerPort: number
  /** Characters of the path the route's prefix match covered; -1 for the whole path. */
  readonly matchedPrefixLength: number
}

/** The parts of Istio's HTTPRedirect a Location depends on (the status aside). */
export type RedirectSpec = Omit<ir.RedirectAction, 'kind' | 'status'>

/** The `tls.httpsRedirect` of a Gateway server: same host and path, scheme https. */
export const HTTPS_REDIRECT: RedirectSpec = { scheme: 'https' }

/**
 * Builds the Location of a redirect as Envoy does for Istio's HTTPRedirect:
 * - the query string is kept, unless `uri` carries its own;
 * - `uri` replaces the path, `prefixRewrite` swaps the part the prefix match covered;
 * - a port (explicit, or the listener's with FROM_REQUEST_PORT) replaces the Host's port, and
 *   is left out when it is the scheme's default, so Host `b` gives `http://b/foo` while Host
 *   `b:80` keeps `http://b:80/foo` (istio routing.go "redirect request port");
 * - when the scheme changes, a default port of the old scheme is dropped from the Host.
 */
export function buildRedirectLocation(spec: RedirectSpec, req: RedirectRequest): string {
  const scheme = spec.scheme ?? req.scheme
  let port = spec.port ?? (spec.derivePort === 'FROM_REQUEST_PORT' ? req.listenerPort : undefined)
  if (port !== undefined && isDefaultPort(scheme, port)) port = undefined
  const portPart = port === undefined ? '' : `:${port}`
  const host = spec.authority ?? requestHost(req.authority, scheme, portPart, req.forwardedProto)
  const query = req.query === '' ? '' : `?${req.query}`
  let path: string
  if (spec.uri !== undefined) {
    path = spec.uri.includes('?') ? spec.uri : spec.uri + query
  } else if (spec.prefixRewrite !== undefined) {
    const n = req.matchedPrefixLength
    path = (n < 0 ? spec.prefixRewrite : spec.prefixRewrite + req.path.slice(n)) + query
  } else {
    path = req.path + query
  }
  if (!path.startsWith('/')) path = `/${path}`
  return `${scheme}://${host}${portPart}${path}`
}

function isDefaultPort(scheme: string, port: number): boolean {
  return (scheme === 'http' && port === 80) || (scheme === 'https' && port === 443)
}

/** Envoy's processRequestHost: the Host, minus its port when a new port or scheme makes it wrong. */
function requestHost(
  authority: string,
  newScheme: string,
  newPort: string,
  requestProto: string,
): string {
  if (authority === '') return authority
  let portAt: number
  if (authority.startsWith('[')) {
    const close = authority.lastIndexOf(']:')
    portAt = close < 0 ? -1 : close + 1
  } else {
    portAt = authority.lastIndexOf(':')
  }
  if (portAt < 0) return authority
  const hostPort = authority.slice(portAt)
  let remove = newPort !== ''
  if (newScheme !== requestProto) {
    remove ||= requestProto === 'https' && hostPort === ':443'
    remove ||= requestProto === 'http' && hostPort === ':80'
  }
  return remove ? authority.slice(0, portAt) : authority
}
