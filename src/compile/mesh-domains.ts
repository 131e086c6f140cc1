/**
 * The names the outbound listener answers to for one service, as Istio's sidecar generates
 * them (pilot's generateVirtualHostDomains / generateAltVirtualHostsForKubernetesService) for a
 * proxy in one namespace: for `reviews.default.svc.cluster.local` seen from `default`, also
 * `reviews`, `reviews.default` and `reviews.default.svc`; seen from another namespace only
 * `reviews.default` and `reviews.default.svc` (a bare `reviews` would mean that namespace's own
 * service). Names outside `<ns>.svc.cluster.local` (`httpbin.org`, `*.wikipedia.org`) have no
 * alternatives. Each name is listed with and without the port, as config_dump shows it; the
 * port is ignored when a Host is matched, as Istio's sidecars ignore it.
 */
import { DOMAIN_SUFFIX } from './names.js'

/** The namespace the outbound listener plays a sidecar in (`outbound.namespace`). */
export const DEFAULT_MESH_NAMESPACE = 'default'

/** The shorter names a proxy in `namespace` may use for `host` (none for non-cluster names). */
export function alternativeNames(host: string, namespace: string): string[] {
  const suffix = `.${DOMAIN_SUFFIX}`
  if (!host.endsWith(suffix)) return []
  const svc = host.length - suffix.length
  const dot = host.indexOf('.')
  // As Istio: the first label is the name, everything from there to `.svc` the namespace.
  if (dot <= 0 || dot >= svc) return []
  const name = host.slice(0, dot)
  const nameNs = host.slice(0, svc)
  if (nameNs.slice(dot + 1) === namespace) return [name, `${nameNs}.svc`, nameNs]
  return [nameNs, `${nameNs}.svc`]
}

/** Every domain of the virtual host for `host` on `port`: the name first, then alternatives. */
export function meshDomains(host: string, port: number, namespace: string): string[] {
  const out: string[] = []
  for (const name of [host, ...alternativeNames(host, namespace)]) out.push(name, `${name}:${port}`)
  return out
}
