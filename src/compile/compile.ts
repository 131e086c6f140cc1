/**
 * resources → Snapshot. Pure: no I/O, clock or randomness, so equal input gives an equal
 * snapshot and hash. Problems are returned as diagnostics; the snapshot is always complete
 * enough to describe, and runtime/ refuses it when a diagnostic is an error.
 */
import { deepFreeze } from '../lib/index.js'
import type { Diagnostic } from '../diag/index.js'
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'
import { compileAcme } from './acme.js'
import { compileMeshIdentity, meshIdentityAssets } from './mesh-identity.js'
import { compileTracing } from './tracing.js'
import {
  createBindingMemo,
  resolveBindings,
  type BindingMemo,
  type BoundVirtualService,
} from './binding.js'
import { createDestinationResolver } from './destinations.js'
import { createDiagSink } from './diagnostics.js'
import { compileEgress, isEgressConfigured } from './egress.js'
import { reportMeshL4Routes } from './mesh-l4-routes.js'
import { hasOutboundListener } from './outbound-listeners.js'
import { compileVirtualServiceRoutes } from './http-routes.js'
import { compileRateLimits } from './rate-limits.js'
import { mirrorHostSuffix } from './route-policies.js'
import { compileHttpListener, compileTcpListener, compileTlsListener } from './listeners.js'
import { createVirtualHostMemo, type RoutesFor, type VirtualHostMemo } from './route-table.js'
import { certsDirFor } from './server-tls.js'
import { collectPorts, selectGateways } from './servers.js'
import { createRouteMemo, type RouteMemo } from './route-memo.js'
import { servesNothing } from './serves-nothing.js'
import { snapshotHash } from './snapshot-hash.js'
import { destinationRuleTlsAssets } from './upstream-tls-assets.js'
import { compileSettings } from './settings.js'

export interface CompileResult {
  readonly snapshot: ir.Snapshot
  readonly diagnostics: Diagnostic[]
  /** Certificate files of terminating servers, for runtime to read and check (not hashed). */
  readonly assets: readonly ir.ServerTlsAssets[]
  /** Every DestinationRule's TLS origination files, used or not, for runtime to check. */
  readonly upstreamTls: readonly ir.UpstreamTlsAssets[]
}

export function compile(resources: istio.ResourceSet): CompileResult {
  return compileWith(resources, undefined)
}

/**
 * A compile function for reloads: routes of VirtualServices that did not change are reused (see
 * route-memo.ts). Its results equal compile()'s for the same resources.
 */
export function createIncrementalCompile(): (resources: istio.ResourceSet) => CompileResult {
  const memo = {
    routes: createRouteMemo(),
    bindings: createBindingMemo(),
    vhosts: createVirtualHostMemo(),
  }
  return (resources) => compileWith(resources, memo)
}

interface Memo {
  readonly routes: RouteMemo
  readonly bindings: BindingMemo
  readonly vhosts: VirtualHostMemo
}

function compileWith(resources: istio.ResourceSet, memos: Memo | undefined): CompileResult {
  const memo = memos?.routes
  memo?.begin(resources)
  memos?.vhosts.begin()
  const sink = createDiagSink()
  const settings = compileSettings(resources.gatewayConfig)
  const gateways = selectGateways(resources.gateways, settings, sink)
  const ports = collectPorts(gateways, settings, sink)
  const bindings = resolveBindings(resources.virtualServices, resources.gateways, sink, {
    meshServed: hasOutboundListener(resources.gatewayConfig?.spec),
    ...(memos !== undefined ? { memo: memos.bindings } : {}),
  })
  const destinations = createDestinationResolver(resources, sink)

  // A VirtualService compiles once per (Gateway, port): match-level gateways and ports make
  // the result depend on both, and several servers may share them.
  const cache = new Map<BoundVirtualService, Map<string, readonly ir.HttpRoute[]>>()
  const routesFor: RoutesFor = (bound, gatewayKey, port) => {
    let byContext = cache.get(bound)
    if (byContext === undefined) {
      byContext = new Map()
      cache.set(bound, byContext)
    }
    const key = `${gatewayKey}|${port}`
    let routes = byContext.get(key)
    if (routes === undefined) {
      const ctx = {
        gatewayKey,
        port,
        destinations,
        sink,
        mirrorHostSuffix: mirrorHostSuffix(resources.gatewayConfig),
      }
      routes =
        memo !== undefined ? memo.routes(bound.vs, ctx) : compileVirtualServiceRoutes(bound.vs, ctx)
      byContext.set(key, routes)
    }
    return routes
  }

  const l4 = {
    bindings,
    routesFor,
    destinations,
    certsDir: (gw: istio.Gateway) => certsDirFor(resources.gatewayConfig, gw),
    sink,
    assets: [] as ir.ServerTlsAssets[],
    meshIdentity: compileMeshIdentity(resources.gatewayConfig),
    ...(memos !== undefined ? { vhosts: memos.vhosts } : {}),
  }
  const listeners = [
    ...ports.http.map((p) => compileHttpListener(p, settings, bindings, routesFor, memos?.vhosts)),
    ...ports.tls.map((p) => compileTlsListener(p, settings, l4)),
    ...ports.tcp.map((p) => compileTcpListener(p, settings, l4)),
  ].sort((a, b) => a.port - b.port)
  const rateLimits = compileRateLimits(resources, bindings, sink)
  // Before clusters(): the egress default routes add the clusters of registered hosts.
  const egress = isEgressConfigured(resources)
    ? compileEgress({ resources, settings, bindings, routesFor, sink, gatewayListeners: listeners })
    : undefined
  reportMeshL4Routes(resources, bindings, sink)
  const acme = compileAcme(resources)
  const tracing = compileTracing(resources, settings)
  const body = {
    settings,
    listeners,
    clusters: destinations.clusters(),
    ...(rateLimits.length > 0 ? { rateLimits } : {}),
    ...(egress !== undefined ? { egress } : {}),
    ...(acme !== undefined ? { acme } : {}),
    ...(tracing !== undefined ? { tracing } : {}),
  }
  // Frozen before hashing: the hash keeps route digests by identity (snapshot-hash.ts).
  deepFreeze(body)
  const snapshot: ir.Snapshot = { hash: snapshotHash(body), ...body }
  const diagnostics = sink.drain()
  const empty = servesNothing(resources, listeners, egress)
  if (empty !== undefined) diagnostics.push(empty)
  const mesh = meshIdentityAssets(resources)
  const assets = mesh !== undefined ? [...l4.assets, mesh] : l4.assets
  const upstreamTls = destinationRuleTlsAssets(resources)
  return { snapshot: deepFreeze(snapshot), diagnostics, assets, upstreamTls }
}
