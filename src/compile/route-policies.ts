/**
 * VirtualService route policies other than retries: fault injection, mirroring and CORS, as
 * Istio translates them (pilot/pkg/networking/core/route/route.go).
 */
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'
import type { DestinationResolver } from './destinations.js'
import { compileStringMatch } from './matches.js'

type Fault = NonNullable<istio.HTTPRoute['fault']>
type Cors = NonNullable<istio.HTTPRoute['corsPolicy']>

/** Istio: a missing percentage means 0% (the deprecated integer `percent` is the fallback). */
function faultPercent(p: { readonly value?: number } | undefined, legacy?: number): number {
  if (p !== undefined) return p.value ?? 0
  return legacy ?? 0
}

export function compileFault(fault: Fault | undefined): ir.FaultPolicy | undefined {
  if (fault === undefined) return undefined
  const d = fault.delay
  const a = fault.abort
  const delay =
    d?.fixedDelay !== undefined
      ? { fixedDelayMs: d.fixedDelay, percent: faultPercent(d.percentage, d.percent) }
      : undefined
  const abort =
    a?.httpStatus !== undefined
      ? { httpStatus: a.httpStatus, percent: faultPercent(a.percentage) }
      : undefined
  if (delay === undefined && abort === undefined) return undefined
  return { ...(delay !== undefined ? { delay } : {}), ...(abort !== undefined ? { abort } : {}) }
}

/**
 * `mirror` (with `mirrorPercentage`, or the deprecated integer `mirrorPercent`) and `mirrors[]`.
 * A missing percentage mirrors everything; an explicit 0 mirrors nothing and is left out.
 */
export function compileMirrors(
  vs: istio.VirtualService,
  route: istio.HTTPRoute,
  index: number,
  listenPort: number,
  destinations: DestinationResolver,
  hostSuffix: string,
): ir.MirrorPolicy[] {
  const out: ir.MirrorPolicy[] = []
  const add = (d: istio.Destination, percent: number, path: istio.Path): void => {
    if (percent <= 0) return
    const r = destinations.resolve(vs, d, path, listenPort)
    out.push({
      cluster: r.cluster,
      host: r.host,
      port: r.port,
      percent: Math.min(percent, 100),
      ...(hostSuffix !== '' ? { hostSuffix } : {}),
    })
  }
  const base = ['spec', 'http', index]
  if (route.mirror !== undefined) {
    const percent = route.mirrorPercentage?.value ?? route.mirrorPercent ?? 100
    add(route.mirror, percent, [...base, 'mirror'])
  }
  ;(route.mirrors ?? []).forEach((m, i) => {
    add(m.destination, m.percentage?.value ?? 100, [...base, 'mirrors', i, 'destination'])
  })
  return out
}

export function compileCors(cors: Cors | undefined): ir.CorsPolicy | undefined {
  if (cors === undefined) return undefined
  const origins: ir.StringMatch[] = (cors.allowOrigins ?? []).map(compileStringMatch)
  // The deprecated allowOrigin list is exact matches ("*" allows every origin).
  for (const o of cors.allowOrigin ?? []) {
    origins.push(o === '*' ? { kind: 'present' } : { kind: 'exact', value: o })
  }
  return {
    allowOrigins: origins,
    allowMethods: cors.allowMethods ?? [],
    allowHeaders: cors.allowHeaders ?? [],
    exposeHeaders: cors.exposeHeaders ?? [],
    ...(cors.maxAge !== undefined ? { maxAgeSeconds: Math.floor(cors.maxAge / 1000) } : {}),
    ...(cors.allowCredentials !== undefined ? { allowCredentials: cors.allowCredentials } : {}),
    unmatchedPreflights: cors.unmatchedPreflights === 'IGNORE' ? 'IGNORE' : 'FORWARD',
  }
}

/**
 * Istio 1.28 stopped adding `-shadow` to mirrored requests' Host; the compatibility profile
 * picks the behaviour (GatewayConfig spec.compatibility, default `latest`).
 */
export function mirrorHostSuffix(config: istio.GatewayConfig | undefined): string {
  return config?.spec.compatibility === 'istio-1.27' ? '-shadow' : ''
}
