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

export function snapshotHash(body: Omit<ir.Snapshot, 'hash'>): string {
  // Only the routes of this body stand for their digests (never a route some earlier body had
  // in a route table and this one has elsewhere), so the hash depends on the body alone.
  const stand = new Map<object, string>()
  for (const t of routeTables(body)) {
    for (const vh of t.virtualHosts) for (const r of vh.routes) stand.set(r, digestOf(r))
  }
  const written = (o: object): string | undefined => {
    const d = stand.get(o)
    return d !== undefined ? `{"#route":${JSON.stringify(d)}}` : sharedJson(o)
  }
  return sha256Hex(canonicalJson(body, written))
}
