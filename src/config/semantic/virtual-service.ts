/**
 * VirtualService checks from Istio's ValidateVirtualService: routes must exist, hosts must not
 * overlap, `*` is refused on the mesh, delegates are restricted, TLS SNI hosts stay within the
 * VirtualService hosts. HTTP route details are in http-route.ts.
 */
import type { Diagnostic } from '../../diag/index.js'
import { hostCovers } from '../../lib/index.js'
import type { Destination, Path, VirtualService } from '../types.js'
import { checkHttpRoute } from './http-route.js'
import { at, createReporter, type Report } from './report.js'
import { checkDestination, checkWeights } from './route-destinations.js'

const MESH_GATEWAY = 'mesh'

export function checkVirtualService(vs: VirtualService, diags: Diagnostic[]): void {
  const report = createReporter(vs, diags)
  const spec = vs.spec
  const hosts = spec.hosts ?? []
  const http = spec.http ?? []
  const tls = spec.tls ?? []
  const tcp = spec.tcp ?? []
  if (http.length === 0 && tcp.length === 0 && tls.length === 0) {
    report('PC1207', ['spec'], 'http, tcp or tls must be provided in virtual service')
  }
  const inDelegate = hosts.length === 0
  if (inDelegate) checkDelegate(vs, report)
  else checkHosts(vs, report)
  http.forEach((route, i) => checkHttpRoute(route, ['spec', 'http', i], { inDelegate }, report))
  tls.forEach((route, i) => {
    const path: Path = ['spec', 'tls', i]
    route.match.forEach((m, k) => {
      m.sniHosts.forEach((sni, s) => {
        if (inDelegate || hosts.some((h) => hostCovers(h, sni))) return
        report(
          'PC1218',
          at(path, 'match', k, 'sniHosts', s),
          `SNI host "${sni}" is not a compatible subset of any of the virtual service hosts: [${hosts.join(', ')}]`,
        )
      })
    })
    checkL4Route(route, path, 'TLS', report)
  })
  tcp.forEach((route, i) => checkL4Route(route, ['spec', 'tcp', i], 'TCP', report))
}

function checkL4Route(
  route: {
    readonly route?: readonly { readonly destination: Destination; readonly weight?: number }[]
  },
  path: Path,
  kind: 'TLS' | 'TCP',
  report: Report,
): void {
  const dests = route.route ?? []
  if (dests.length === 0) {
    report(
      'PC1219',
      at(path, 'route'),
      `${kind} route is required: add at least one destination under route`,
    )
  }
  dests.forEach((d, j) =>
    checkDestination(d.destination, at(path, 'route', j, 'destination'), report),
  )
  checkWeights(dests, at(path, 'route'), report)
}

/** A VirtualService without hosts can only be a delegate of another one. */
function checkDelegate(vs: VirtualService, report: Report): void {
  const spec = vs.spec
  report(
    'PC1213',
    ['spec', 'hosts'],
    'a VirtualService without hosts is a delegate of another VirtualService; delegation is not supported, so its routes are never used',
  )
  if ((spec.gateways?.length ?? 0) > 0) {
    report(
      'PC1214',
      ['spec', 'gateways'],
      'delegate virtual service must have no gateways specified',
    )
  }
  if ((spec.tls?.length ?? 0) > 0) {
    report('PC1214', ['spec', 'tls'], 'delegate virtual service must have no tls route specified')
  }
  if ((spec.tcp?.length ?? 0) > 0) {
    report('PC1214', ['spec', 'tcp'], 'delegate virtual service must have no tcp route specified')
  }
}

function checkHosts(vs: VirtualService, report: Report): void {
  const hosts = vs.spec.hosts ?? []
  const gateways = vs.spec.gateways ?? []
  // Without gateways, or with `mesh` among them, the VirtualService configures sidecars.
  const appliesToMesh = gateways.length === 0 || gateways.includes(MESH_GATEWAY)
  let allValid = true
  hosts.forEach((h, i) => {
    if (appliesToMesh && h === '*') {
      report(
        'PC1215',
        ['spec', 'hosts', i],
        'wildcard host * is not allowed for virtual services bound to the mesh gateway',
      )
      allValid = false
    }
  })
  if (!allValid) return
  // Overlapping hosts (equal, or one wildcard covering the other) are reported once, at the later one.
  for (let j = 1; j < hosts.length; j++) {
    const b = hosts[j]!
    const a = hosts.slice(0, j).find((h) => hostCovers(h, b) || hostCovers(b, h))
    if (a !== undefined) {
      report('PC1117', ['spec', 'hosts', j], `duplicate hosts in virtual service: ${a} & ${b}`)
    }
  }
}
