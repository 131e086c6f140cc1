/**
 * Istio's name resolution rules: short host names, `ns/host` server hosts, gateway references
 * and `exportTo` visibility. Pure string functions, unit-tested in names.test.ts.
 */

/** Istio's Kubernetes domain suffix, used to expand short names (`reviews`). */
export const DOMAIN_SUFFIX = 'svc.cluster.local'

/** The reserved gateway name that means "all sidecars". */
export const MESH_GATEWAY = 'mesh'

function isIpAddress(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':')
}

/**
 * Istio's ResolveShortnameToFQDN: a name without a dot becomes
 * `<name>.<namespace>.svc.cluster.local`; `*`, IP addresses and dotted names stay as written.
 * Names are compared lower-case.
 */
export function expandShortName(host: string, namespace: string): string {
  const h = host.toLowerCase()
  if (h === '*' || h.includes('.') || isIpAddress(h)) return h
  return `${h}.${namespace}.${DOMAIN_SUFFIX}`
}

export interface ServerHost {
  /** `*` (any namespace) or the one namespace whose VirtualServices may bind. */
  readonly namespace: string
  /** Lower-case DNS name, `*.suffix` or `*`. */
  readonly host: string
}

/** Parses a Gateway server host `[namespace/]dnsName`; `.` is the Gateway's own namespace. */
export function parseServerHost(value: string, gatewayNamespace: string): ServerHost {
  const slash = value.indexOf('/')
  if (slash < 0) return { namespace: '*', host: value.toLowerCase() }
  const ns = value.slice(0, slash)
  return {
    namespace: ns === '.' ? gatewayNamespace : ns,
    host: value.slice(slash + 1).toLowerCase(),
  }
}

/**
 * Istio's resolveGatewayName: `ns/name` stays, `./name` and `name` are in the VirtualService's
 * namespace, and the legacy FQDN form `name.ns[.svc.cluster.local]` becomes `ns/name`.
 * `mesh` is returned unchanged.
 */
export function resolveGatewayName(ref: string, namespace: string): string {
  if (ref === MESH_GATEWAY) return ref
  const slash = ref.indexOf('/')
  if (slash >= 0) {
    return ref.slice(0, slash) === '.' ? `${namespace}/${ref.slice(slash + 1)}` : ref
  }
  const dot = ref.indexOf('.')
  if (dot < 0) return `${namespace}/${ref}`
  const rest = ref.slice(dot + 1)
  const nsEnd = rest.indexOf('.')
  return `${nsEnd < 0 ? rest : rest.slice(0, nsEnd)}/${ref.slice(0, dot)}`
}

/**
 * Is a resource in `ownNamespace` with this `exportTo` visible from `namespace`? Absent or empty
 * means every namespace (Istio's default); `.` is the own namespace, `*` all, `~` none.
 */
export function isExportedTo(
  exportTo: readonly string[] | undefined,
  ownNamespace: string,
  namespace: string,
): boolean {
  if (exportTo === undefined || exportTo.length === 0) return true
  return exportTo.some(
    (e) => e === '*' || e === namespace || (e === '.' && ownNamespace === namespace),
  )
}
