/**
 * Binding VirtualServices to Gateway servers (istio/istio pilot/pkg/networking/core/gateway.go):
 * a VS binds to a server when its `gateways` name the server's Gateway, its `exportTo` admits the
 * Gateway's namespace, and its hosts intersect the server hosts whose `ns/` part admits the VS
 * namespace. Each intersecting host (the more specific name of the pair) becomes a virtual host.
 */
import { closest, intersectHosts } from '../lib/index.js'
import type * as istio from '../config/index.js'
import type { DiagSink } from './diagnostics.js'
import {
  expandShortName,
  isExportedTo,
  MESH_GATEWAY,
  parseServerHost,
  resolveGatewayName,
  type ServerHost,
} from './names.js'
import { resourceKey } from './source-ref.js'

export interface BoundVirtualService {
  readonly vs: istio.VirtualService
  /** Lower-case hosts, short names expanded as Istio does. */
  readonly hosts: readonly string[]
  /** Resolved `ns/name` of every Gateway the VS names (without `mesh`). */
  readonly gateways: ReadonlySet<string>
}

/** Hosts in which the VS meets one server; empty when it does not bind to it. */
export function intersectServerHosts(
  vs: BoundVirtualService,
  gatewayNamespace: string,
  serverHosts: readonly ServerHost[],
): string[] {
  const ns = vs.vs.metadata.namespace
  if (!isExportedTo(vs.vs.spec.exportTo, ns, gatewayNamespace)) return []
  const out: string[] = []
  for (const sh of serverHosts) {
    if (sh.namespace !== '*' && sh.namespace !== ns) continue
    for (const vh of vs.hosts) {
      const h = intersectHosts(sh.host, vh)
      if (h !== undefined && !out.includes(h)) out.push(h)
    }
  }
  return out
}

function listHosts(hosts: readonly string[]): string {
  return hosts.join(', ')
}

/**
 * Resolves each VirtualService's `gateways` and reports what keeps it from binding: no gateways
 * or only `mesh` (PC2004), a Gateway that does not exist (PC2001), an `exportTo` that hides it
 * from the Gateway's namespace (PC3005), or no host in common with the Gateway (PC3004).
 */
export function resolveBindings(
  virtualServices: readonly istio.VirtualService[],
  gateways: readonly istio.Gateway[],
  sink: DiagSink,
  opts: { readonly meshServed?: boolean; readonly memo?: BindingMemo } = {},
): BoundVirtualService[] {
  const byKey = new Map(gateways.map((g) => [resourceKey(g), g]))
  const meshServed = opts.meshServed === true
  const memo = opts.memo
  if (memo === undefined) return virtualServices.map((vs) => bindOne(vs, byKey, sink, meshServed))
  memo.begin(gateways, meshServed)
  return virtualServices.map((vs) =>
    memo.bind(vs, sink, (rec) => bindOne(vs, byKey, rec, meshServed)),
  )
}

/**
 * Bindings kept across compiles (for `run`'s reloads): a VirtualService's binding and what it
 * reported depend on it, the Gateways and whether the mesh is served, so a VirtualService that
 * is the same object as last time, with the same Gateway objects, binds as it did; its reports
 * are replayed so the diagnostics are those of a cold compile. Kept BoundVirtualService objects
 * also let the compiled routes be found again by identity.
 */
export interface BindingMemo {
  begin(gateways: readonly istio.Gateway[], meshServed: boolean): void
  bind(
    vs: istio.VirtualService,
    sink: DiagSink,
    bindFresh: (sink: DiagSink) => BoundVirtualService,
  ): BoundVirtualService
}

type Report = Parameters<DiagSink['report']>

export function createBindingMemo(): BindingMemo {
  let inputs: readonly unknown[] | undefined
  let entries = new WeakMap<
    istio.VirtualService,
    { bound: BoundVirtualService; reports: Report[] }
  >()
  return {
    begin(gateways, meshServed) {
      const next = [meshServed, ...gateways]
      const same =
        inputs !== undefined &&
        inputs.length === next.length &&
        inputs.every((x, i) => x === next[i])
      if (!same) entries = new WeakMap()
      inputs = next
    },
    bind(vs, sink, bindFresh) {
      const hit = entries.get(vs)
      if (hit !== undefined) {
        for (const r of hit.reports) sink.report(...r)
        return hit.bound
      }
      const reports: Report[] = []
      const bound = bindFresh({
        report: (...r) => {
          reports.push(r)
          sink.report(...r)
        },
        drain: () => sink.drain(),
      })
      entries.set(vs, { bound, reports })
      return bound
    },
  }
}

function bindOne(
  vs: istio.VirtualService,
  byKey: ReadonlyMap<string, istio.Gateway>,
  sink: DiagSink,
  meshServed: boolean,
): BoundVirtualService {
  const ns = vs.metadata.namespace
  const hosts = (vs.spec.hosts ?? []).map((h) => expandShortName(h, ns))
  const refs = vs.spec.gateways ?? []
  const bound: BoundVirtualService = {
    vs,
    hosts,
    gateways: new Set(refs.map((r) => resolveGatewayName(r, ns)).filter((g) => g !== MESH_GATEWAY)),
  }
  // With an outbound listener, mesh-bound VirtualServices serve there (compile/egress.ts).
  if (bound.gateways.size === 0 && !meshServed) {
    sink.report(
      'PC2004',
      vs,
      ['spec', 'gateways'],
      `${refs.length === 0 ? 'gateways is empty' : 'gateways lists only mesh'}, so this VirtualService applies to the mesh (sidecars) only and is not bound to any gateway server; name a Gateway in gateways to serve it here`,
    )
  }
  refs.forEach((ref, i) => {
    const key = resolveGatewayName(ref, ns)
    if (key === MESH_GATEWAY) return
    const gw = byKey.get(key)
    if (gw === undefined) {
      reportMissingGateway(sink, vs, ['spec', 'gateways', i], ref, key, byKey.keys())
      return
    }
    checkHosts(sink, bound, gw, ['spec', 'gateways', i])
  })
  vs.spec.http?.forEach((route, i) => {
    route.match?.forEach((m, j) => {
      m.gateways?.forEach((ref, k) => {
        const key = resolveGatewayName(ref, ns)
        if (key !== MESH_GATEWAY && !byKey.has(key)) {
          const path = ['spec', 'http', i, 'match', j, 'gateways', k]
          reportMissingGateway(sink, vs, path, ref, key, byKey.keys())
        }
      })
    })
  })
  return bound
}

function reportMissingGateway(
  sink: DiagSink,
  vs: istio.VirtualService,
  path: istio.Path,
  ref: string,
  key: string,
  known: Iterable<string>,
): void {
  const hint = closest(key, known)
  sink.report(
    'PC2001',
    vs,
    path,
    `Gateway ${key}${ref !== key ? ` (from "${ref}")` : ''} does not exist${hint !== undefined ? ` (did you mean ${hint}?)` : ''}; nothing binds through it`,
  )
}

function checkHosts(
  sink: DiagSink,
  bound: BoundVirtualService,
  gw: istio.Gateway,
  refPath: istio.Path,
): void {
  const { vs } = bound
  const gwKey = resourceKey(gw)
  const gwNs = gw.metadata.namespace
  if (!isExportedTo(vs.spec.exportTo, vs.metadata.namespace, gwNs)) {
    sink.report(
      'PC3005',
      vs,
      ['spec', 'exportTo'],
      `exportTo [${(vs.spec.exportTo ?? []).join(', ')}] does not include namespace ${gwNs} of Gateway ${gwKey}, so this VirtualService does not bind to it`,
    )
    return
  }
  if (bound.hosts.length === 0) return
  const serverHosts = gw.spec.servers.flatMap((s) =>
    s.hosts.map((raw) => ({ raw, ...parseServerHost(raw, gwNs) })),
  )
  const meets = serverHosts.filter((sh) =>
    bound.hosts.some((vh) => intersectHosts(sh.host, vh) !== undefined),
  )
  if (meets.length === 0) {
    sink.report(
      'PC3004',
      vs,
      ['spec', 'hosts'],
      `no host of this VirtualService (${listHosts(bound.hosts)}) matches a server host of Gateway ${gwKey} (${listHosts(serverHosts.map((s) => s.raw))}), so it is not bound to that Gateway`,
    )
    return
  }
  const ns = vs.metadata.namespace
  if (!meets.some((sh) => sh.namespace === '*' || sh.namespace === ns)) {
    sink.report(
      'PC3004',
      vs,
      refPath,
      `the server hosts of Gateway ${gwKey} that match this VirtualService (${listHosts(meets.map((s) => s.raw))}) only admit VirtualServices from other namespaces, and this one is in ${ns}`,
    )
  }
}
