/**
 * One VirtualService's `http` routes as seen by one Gateway on one listener port, following
 * Istio's BuildHTTPRoutesForVirtualService: a match naming other gateways, another port, or
 * mesh source selectors is dropped; a route whose matches all drop is left out; translation
 * stops at the first catch-all, and the routes after it are reported as dead (PC3001).
 *
 * Istio emits one Envoy route per match, and only the catch-all match moves to the end of a
 * virtual host. So a route whose catch-all match follows other matches is split in two: the
 * matches before it, then the catch-all alone, both with the route's id.
 */
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'
import { compileDirectResponse, compileForward, compileRedirect } from './actions.js'
import { isCatchAllMatch } from './catch-all.js'
import type { DestinationResolver } from './destinations.js'
import type { DiagSink } from './diagnostics.js'
import { authorityFromHeaders, compileHeaderRules } from './headers.js'
import { share } from './share.js'
import { compileRequestMatch } from './matches.js'
import { resolveGatewayName } from './names.js'
import { compileRetry } from './retry.js'
import { compileRewrite } from './rewrite.js'
import { compileCors, compileFault, compileMirrors } from './route-policies.js'
import { sourceRef } from './source-ref.js'

export interface RouteContext {
  /** `ns/name` of the Gateway the routes are built for. */
  readonly gatewayKey: string
  readonly port: number
  readonly destinations: DestinationResolver
  readonly sink: DiagSink
  /** Appended to mirrored requests' Host: `-shadow` for Istio 1.27 compatibility, else ''. */
  readonly mirrorHostSuffix?: string
}

function keepsMatch(m: istio.HTTPMatchRequest, namespace: string, ctx: RouteContext): boolean {
  if (m.port !== undefined && m.port !== ctx.port) return false
  if (m.gateways !== undefined && m.gateways.length > 0) {
    if (!m.gateways.some((g) => resolveGatewayName(g, namespace) === ctx.gatewayKey)) return false
  }
  // Selectors for mesh workloads never hold at a gateway (validation warns, PC1109).
  if (m.sourceLabels !== undefined && Object.keys(m.sourceLabels).length > 0) return false
  if (m.sourceNamespace !== undefined && m.sourceNamespace !== '') return false
  return true
}

type RouteBody = Omit<ir.HttpRoute, 'match'>

function compileBody(
  vs: istio.VirtualService,
  route: istio.HTTPRoute,
  index: number,
  ctx: RouteContext,
): RouteBody | undefined {
  const path = ['spec', 'http', index]
  const ns = vs.metadata.namespace
  // rewrite.authority wins over a `:authority`/`host` header set (route.go).
  const rewriteAuthority = route.rewrite?.authority
  const authority =
    rewriteAuthority !== undefined && rewriteAuthority !== ''
      ? rewriteAuthority
      : authorityFromHeaders(route.headers)
  let action: ir.RouteAction
  let forwardOnly: Pick<ir.HttpRoute, 'rewrite' | 'authorityRewrite'> = {}
  if (route.redirect !== undefined) action = compileRedirect(route.redirect)
  else if (route.directResponse !== undefined) {
    action = compileDirectResponse(route.directResponse)
  } else if (route.route !== undefined && route.route.length > 0) {
    action = compileForward(vs, index, route.route, authority, ctx.port, ctx.destinations)
    const rewrite = compileRewrite(route.rewrite)
    forwardOnly = {
      ...(rewrite !== undefined ? { rewrite } : {}),
      ...(authority !== undefined ? { authorityRewrite: authority } : {}),
    }
  } else {
    // A delegate (not supported, PC1213) or no action at all (PC1211): nothing to serve.
    return undefined
  }
  const fault = compileFault(route.fault)
  const cors = compileCors(route.corsPolicy)
  return {
    id: `${ns}/${vs.metadata.name}/http[${index}]`,
    ...(route.name !== undefined ? { name: route.name } : {}),
    source: sourceRef(vs, path),
    // Shared with every route that has equal ones (share.ts).
    action: share(action),
    ...forwardOnly,
    headers: share(compileHeaderRules(route.headers)),
    ...(route.timeout !== undefined && route.timeout > 0 ? { timeoutMs: route.timeout } : {}),
    retry: share(compileRetry(route.retries)),
    ...(fault !== undefined ? { fault } : {}),
    mirrors: share(
      action.kind === 'forward'
        ? compileMirrors(vs, route, index, ctx.port, ctx.destinations, ctx.mirrorHostSuffix ?? '')
        : [],
    ),
    ...(cors !== undefined ? { cors } : {}),
  }
}

export function compileVirtualServiceRoutes(
  vs: istio.VirtualService,
  ctx: RouteContext,
): ir.HttpRoute[] {
  const out: ir.HttpRoute[] = []
  const ns = vs.metadata.namespace
  let catchAllAt: number | undefined
  ;(vs.spec.http ?? []).forEach((route, i) => {
    if (catchAllAt !== undefined) {
      ctx.sink.report(
        'PC3001',
        vs,
        ['spec', 'http', i],
        `this route can never match on port ${ctx.port}: spec.http[${catchAllAt}] before it matches every request, so it is left out, as Istio does`,
      )
      return
    }
    const matches = route.match ?? []
    if (matches.length === 0) {
      catchAllAt = i
      const body = compileBody(vs, route, i, ctx)
      if (body !== undefined) out.push({ ...body, match: share([]) })
      return
    }
    const kept: ir.RequestMatch[] = []
    let catchAll: ir.RequestMatch | undefined
    for (const m of matches) {
      if (!keepsMatch(m, ns, ctx)) continue
      const compiled = compileRequestMatch(m)
      if (isCatchAllMatch(compiled)) {
        catchAll = compiled
        break
      }
      kept.push(compiled)
    }
    if (kept.length === 0 && catchAll === undefined) return
    const body = compileBody(vs, route, i, ctx)
    if (catchAll !== undefined) catchAllAt = i
    if (body === undefined) return
    // Match lists are shared too: tenants' routes mostly match alike (a prefix, a header).
    if (kept.length > 0) out.push({ ...body, match: share(kept) })
    if (catchAll !== undefined) out.push({ ...body, match: share([catchAll]) })
  })
  return out
}
