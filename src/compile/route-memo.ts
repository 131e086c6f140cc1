/**
 * Compiled VirtualService routes kept across compiles, for `run`'s reloads: a VirtualService
 * that is the same object as last time (the parse cache keeps unchanged files' resources by
 * identity), compiled for the same Gateway and port, gives the same routes, as long as what the
 * route compiler reads besides it is the same too: the ServiceEntries and DestinationRules behind
 * the destination resolver, and the GatewayConfig (the mirror Host suffix). When any of those
 * is not the same object, the memo starts empty.
 *
 * The routes are not all a compile produces: compiling them reports diagnostics and tells the
 * resolver which clusters the snapshot needs. Both are recorded on a miss and replayed on a hit
 * (the resolver's own warnings come again from the replayed calls), so the snapshot, its hash
 * and the diagnostics are those of a cold compile (runtime/incremental-build.test.ts).
 */
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'
import type { DestinationResolver } from './destinations.js'
import type { DiagSink } from './diagnostics.js'
import { compileVirtualServiceRoutes, type RouteContext } from './http-routes.js'

type Resolve = Parameters<DestinationResolver['resolve']>
type Report = Parameters<DiagSink['report']>

interface Recorded {
  readonly routes: readonly ir.HttpRoute[]
  readonly resolves: readonly Resolve[]
  readonly reports: readonly Report[]
}

export interface RouteMemo {
  /** Starts a compile: keeps the entries only when the resolver's inputs are the same objects. */
  begin(resources: istio.ResourceSet): void
  routes(vs: istio.VirtualService, ctx: RouteContext): readonly ir.HttpRoute[]
}

function inputsOf(resources: istio.ResourceSet): readonly unknown[] {
  return [resources.gatewayConfig, ...resources.serviceEntries, ...resources.destinationRules]
}

function sameObjects(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

export function createRouteMemo(): RouteMemo {
  let inputs: readonly unknown[] | undefined
  // Weak: a VirtualService that left the config takes its routes with it.
  let entries = new WeakMap<istio.VirtualService, Map<string, Recorded>>()
  return {
    begin(resources) {
      const next = inputsOf(resources)
      if (inputs === undefined || !sameObjects(inputs, next)) entries = new WeakMap()
      inputs = next
    },
    routes(vs, ctx) {
      const key = `${ctx.gatewayKey}|${ctx.port}|${ctx.mirrorHostSuffix ?? ''}`
      let byContext = entries.get(vs)
      const hit = byContext?.get(key)
      if (hit !== undefined) {
        for (const call of hit.resolves) ctx.destinations.resolve(...call)
        for (const report of hit.reports) ctx.sink.report(...report)
        return hit.routes
      }
      const resolves: Resolve[] = []
      const reports: Report[] = []
      const recording: RouteContext = {
        ...ctx,
        destinations: {
          resolve: (...call) => {
            resolves.push(call)
            return ctx.destinations.resolve(...call)
          },
          clusters: () => ctx.destinations.clusters(),
        },
        sink: {
          report: (...report) => {
            reports.push(report)
            ctx.sink.report(...report)
          },
          drain: () => ctx.sink.drain(),
        },
      }
      const routes = compileVirtualServiceRoutes(vs, recording)
      if (byContext === undefined) {
        byContext = new Map()
        entries.set(vs, byContext)
      }
      byContext.set(key, { routes, resolves, reports })
      return routes
    },
  }
}
