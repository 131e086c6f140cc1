/** Stable identifiers. They appear in logs, metrics, admin output and golden files. */

/** Istio's cluster name: `outbound|<port>|<subset>|<host>` (subset empty when none). */
export type ClusterId = string

/** `<namespace>/<virtualservice>/http[<index>]` — the route's place in the source. */
export type RouteId = string

/** `<bind address>:<port>`. */
export type ListenerId = string

export function clusterId(port: number, subset: string | undefined, host: string): ClusterId {
  return `outbound|${port}|${subset ?? ''}|${host}`
}

export function listenerId(address: string, port: number): ListenerId {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`
}

/**
 * The id a terminated TLS chain serves HTTP under (route tables, access logs):
 * `<listener id>/<gateway ns>/<gateway name>/<port name>`.
 */
export function tlsChainId(listener: ListenerId, chainName: string): ListenerId {
  return `${listener}/${chainName}`
}
