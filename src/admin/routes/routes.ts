/**
 * The route tables of the active snapshot: GET /routes (text: one
 * `table::virtual host::route::match::action` line per route; `?format=json`), and
 * `GET /config_dump?resource=dynamic_route_configs`, Envoy's name for the same in config_dump.
 */
import type { FastifyInstance } from 'fastify'
import type * as ir from '../../ir/index.js'
import type { RuntimeView } from '../../runtime/index.js'
import { sendText, wantsJson } from './envoy-format.js'

export function registerRoutes(app: FastifyInstance, runtime: RuntimeView): void {
  app.get('/routes', async (req, reply) => {
    const active = runtime.snapshots.active
    if (active === undefined) return reply.code(503).send({ error: 'no config is active yet' })
    const tables = routeTablesOf(active.snapshot)
    if (wantsJson(req)) return routeConfigsJson(tables)
    return sendText(reply, tables.flatMap(tableLines))
  })
}

/** Every route table the listeners serve from, plain HTTP, terminated TLS and egress alike. */
export function routeTablesOf(snapshot: ir.Snapshot): ir.RouteTable[] {
  const tables: ir.RouteTable[] = []
  for (const l of snapshot.listeners) {
    for (const c of l.chains) {
      if (c.kind === 'http') tables.push(c.routeTable)
      else if (c.kind === 'tls' && c.service.kind === 'http') tables.push(c.service.routeTable)
    }
  }
  const egress = snapshot.egress
  for (const l of egress?.httpListeners ?? []) tables.push(l.routeTable)
  for (const t of Object.values(egress?.routeTables ?? {})) tables.push(t)
  return tables
}

/** Envoy's `dynamic_route_configs` shape; the virtual hosts and routes are the IR's. */
export function routeConfigsJson(tables: readonly ir.RouteTable[]) {
  return {
    dynamic_route_configs: tables.map((t) => ({
      route_config: {
        name: t.name,
        virtual_hosts: t.virtualHosts.map((vh) => ({
          name: vh.name,
          domains: vh.domains,
          require_tls: vh.requireTls ? 'ALL' : 'NONE',
          routes: vh.routes,
        })),
      },
    })),
  }
}

function tableLines(t: ir.RouteTable): string[] {
  return t.virtualHosts.flatMap((vh) =>
    vh.routes.map(
      (r) =>
        `${t.name}::${vh.name}::${r.id}${r.name !== undefined ? ` "${r.name}"` : ''}::${matchText(r.match)}::${actionText(r.action)}`,
    ),
  )
}

function matchText(matches: readonly ir.RequestMatch[]): string {
  if (matches.length === 0) return 'any'
  return matches
    .map((m) => {
      const parts: string[] = []
      if (m.uri !== undefined) parts.push(`uri ${stringMatch(m.uri)}`)
      if (m.method !== undefined) parts.push(`method ${stringMatch(m.method)}`)
      if (m.scheme !== undefined) parts.push(`scheme ${stringMatch(m.scheme)}`)
      if (m.authority !== undefined) parts.push(`authority ${stringMatch(m.authority)}`)
      for (const h of m.headers)
        parts.push(`${h.invert ? '!' : ''}header ${h.name} ${stringMatch(h.match)}`)
      for (const q of m.queryParams) parts.push(`query ${q.name} ${stringMatch(q.match)}`)
      return parts.length > 0 ? parts.join(' & ') : 'any'
    })
    .join(' | ')
}

function stringMatch(m: ir.StringMatch): string {
  switch (m.kind) {
    case 'exact':
      return `=${m.value}`
    case 'prefix':
      return `^${m.value}`
    case 'regex':
      return `~${m.regex}`
    case 'present':
      return 'present'
  }
}

function actionText(a: ir.RouteAction): string {
  switch (a.kind) {
    case 'forward':
      return a.destinations.map((d) => `${d.cluster} ${d.weight}/${a.totalWeight}`).join(', ')
    case 'redirect':
      return `redirect ${a.status}`
    case 'direct':
      return `direct_response ${a.status}`
  }
}
