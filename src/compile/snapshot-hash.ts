/**
 * The snapshot hash: sha256 of the canonical JSON of the snapshot body, in which every HTTP route
 * of a route table stands as the sha256 of its own canonical JSON. Equal bodies give equal
 * hashes and any difference in a route changes its digest, so the hash still says "identical
 * config" exactly; but a reload that reuses routes by identity (route-memo.ts) serialises only
 * the routes it compiled again, not the whole config (docs/adr/0025-composed-snapshot-hash.md).
 */
import { canonicalJson, memoByIdentity, sha256Hex } from '../lib/index.js'
import type * as ir from '../ir/index.js'
import { sharedJson } from './share.js'

// Routes are frozen once compiled and reused by identity across reloads: a digest stays true for
// the route's life.
const digestOf = memoByIdentity((route: ir.HttpRoute): string =>
  sha256Hex(canonicalJson(route, sharedJson)),
)

/** The route tables of the body: listener chains (plain and terminated TLS) and egress. */
function routeTables(body: Omit<ir.Snapshot, 'hash'>): ir.RouteTable[] {
  const out: ir.RouteTable[] = []
  for (const l of body.listeners) {
    for (const c of l.chains) {
      if (c.kind === 'http') out.push(c.routeTable)
      else if (c.kind === 'tls' && c.service.kind === 'http') out.push(c.service.routeTable)
    }
  }
  if (body.egress !== undefined) {
    out.push(...Object.values(body.egress.routeTables))
    for (const h of body.egress.httpListeners ?? []) out.push(h.routeTable)
  }
  return out
}

/**
 * The body's canonical JSON with its routes standing as `{"#route": digest}`: the same bytes as
 * lib's canonicalJson, through JSON.stringify with a sorting replacer. The body is many small
 * objects and no shared parts (those are inside the routes), where the native loop is about
 * twice as fast as canonicalJson's; a route, made mostly of shared parts, is the other way round.
 */
function bodyJson(body: Omit<ir.Snapshot, 'hash'>, stand: ReadonlyMap<object, string>): string {
  return JSON.stringify(body, (_key, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const d = stand.get(v)
      if (d !== undefined) return { '#route': d }
      const out: Record<string, unknown> = {}
      for (const k of Object.keys(v).sort()) out[k] = (v as Record<string, unknown>)[k]
      return out
    }
    return v
  })
}

export function snapshotHash(body: Omit<ir.Snapshot, 'hash'>): string {
  // Only the routes of this body stand for their digests (never a route some earlier body had
  // in a route table and this one has elsewhere), so the hash depends on the body alone.
  const stand = new Map<object, string>()
  for (const t of routeTables(body)) {
    for (const vh of t.virtualHosts) for (const r of vh.routes) stand.set(r, digestOf(r))
  }
  return sha256Hex(bodyJson(body, stand))
}
