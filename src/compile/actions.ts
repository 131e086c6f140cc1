/** HTTPRoute actions → ir.RouteAction: forward (weighted destinations), redirect, direct. */
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'
import type { DestinationResolver } from './destinations.js'
import { authorityFromHeaders, compileHeaderRules } from './headers.js'

type HTTPRedirect = NonNullable<istio.HTTPRoute['redirect']>
type HTTPDirectResponse = NonNullable<istio.HTTPRoute['directResponse']>

export function compileRedirect(r: HTTPRedirect): ir.RedirectAction {
  const scheme = r.scheme?.toLowerCase()
  return {
    kind: 'redirect',
    ...(r.uri !== undefined ? { uri: r.uri } : {}),
    ...(r.prefixRewrite !== undefined ? { prefixRewrite: r.prefixRewrite } : {}),
    ...(r.authority !== undefined ? { authority: r.authority } : {}),
    // Validation rejects any other scheme (PC1204).
    ...(scheme === 'http' || scheme === 'https' ? { scheme } : {}),
    ...(r.port !== undefined ? { port: r.port } : {}),
    ...(r.derivePort !== undefined ? { derivePort: r.derivePort } : {}),
    // 0 is protobuf's "unset": Istio sends 301.
    status: r.redirectCode !== undefined && r.redirectCode !== 0 ? r.redirectCode : 301,
  }
}

export function compileDirectResponse(d: HTTPDirectResponse): ir.DirectResponseAction {
  const body = d.body
  return {
    kind: 'direct',
    status: d.status,
    ...(body?.string !== undefined
      ? { body: { text: body.string } }
      : body?.bytes !== undefined
        ? { body: { base64: body.bytes } }
        : {}),
  }
}

/**
 * Istio's weighted destinations: one destination gets all traffic whatever its weight; with
 * several, weight-0 (or unset) destinations are skipped and the rest split by relative weight.
 * A destination-level authority applies only when the route sets none.
 */
export function compileForward(
  vs: istio.VirtualService,
  index: number,
  route: readonly NonNullable<istio.HTTPRoute['route']>[number][],
  routeAuthority: string | undefined,
  listenPort: number,
  destinations: DestinationResolver,
): ir.ForwardAction {
  const single = route.length === 1
  const out: ir.RouteDestination[] = []
  route.forEach((rd, j) => {
    const weight = rd.weight ?? 0
    if (!single && weight <= 0) return
    const path = ['spec', 'http', index, 'route', j, 'destination']
    const resolved = destinations.resolve(vs, rd.destination, path, listenPort)
    const authority = authorityFromHeaders(rd.headers)
    out.push({
      ...resolved,
      weight: single ? (weight > 0 ? weight : 100) : weight,
      headers: compileHeaderRules(rd.headers),
      ...(authority !== undefined && routeAuthority === undefined
        ? { authorityRewrite: authority }
        : {}),
    })
  })
  return {
    kind: 'forward',
    destinations: out,
    totalWeight: out.reduce((sum, d) => sum + d.weight, 0),
  }
}
