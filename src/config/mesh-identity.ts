/**
 * Where the mesh identity (GatewayConfig `spec.meshIdentity`) lives, and which fields use it.
 * Shared by validation (the files must exist once something says ISTIO_MUTUAL) and compile (the
 * files become the certificates of ISTIO_MUTUAL clusters and Gateway servers).
 *
 * The defaults are the paths where Istio mounts file-based workload certificates
 * (`/etc/certs/…`, the layout of `OUTPUT_CERTS` and of istio-proxy's legacy secret mount), so a
 * gateway run next to a sidecar's volume needs no settings. Relative paths resolve against the
 * GatewayConfig's file, as `certsDir` does.
 */
import { dirname, isAbsolute, join } from 'node:path'
import type { DestinationRule, Gateway, GatewayConfig, Path, ResourceSet } from './types.js'

export const MESH_IDENTITY_DEFAULTS = {
  certChain: '/etc/certs/cert-chain.pem',
  privateKey: '/etc/certs/key.pem',
  rootCert: '/etc/certs/root-cert.pem',
  trustDomain: 'cluster.local',
} as const

export type MeshIdentityFile = 'certChain' | 'privateKey' | 'rootCert'

export interface MeshIdentityFiles {
  readonly certChain: string
  readonly privateKey: string
  readonly rootCert: string
  readonly trustDomain: string
  /** Which files the GatewayConfig names itself (the others are Istio's defaults). */
  readonly configured: ReadonlySet<MeshIdentityFile>
}

export function meshIdentityFiles(gc: GatewayConfig | undefined): MeshIdentityFiles {
  const m = gc?.spec.meshIdentity
  const configured = new Set<MeshIdentityFile>()
  const file = (k: MeshIdentityFile): string => {
    const v = m?.[k]
    if (v === undefined) return MESH_IDENTITY_DEFAULTS[k]
    configured.add(k)
    return isAbsolute(v) || gc === undefined ? v : join(dirname(gc.origin.file), v)
  }
  return {
    certChain: file('certChain'),
    privateKey: file('privateKey'),
    rootCert: file('rootCert'),
    trustDomain: m?.trustDomain ?? MESH_IDENTITY_DEFAULTS.trustDomain,
    configured,
  }
}

/** One `mode: ISTIO_MUTUAL`: the resource and the path of its `mode` field. */
export interface IstioMutualUse {
  readonly resource: DestinationRule | Gateway
  readonly path: Path
}

type ClientTls = { readonly mode?: string } | undefined
interface PolicyLike {
  readonly tls?: ClientTls
  readonly portLevelSettings?: readonly { readonly tls?: ClientTls }[]
}

/** Every ISTIO_MUTUAL in DestinationRules (all four places tls can be) and Gateway servers. */
export function istioMutualUses(
  set: Pick<ResourceSet, 'destinationRules' | 'gateways'>,
): IstioMutualUse[] {
  const out: IstioMutualUse[] = []
  const policy = (resource: DestinationRule, p: PolicyLike | undefined, at: Path): void => {
    if (p === undefined) return
    if (p.tls?.mode === 'ISTIO_MUTUAL') out.push({ resource, path: [...at, 'tls', 'mode'] })
    p.portLevelSettings?.forEach((l, i) => {
      if (l.tls?.mode === 'ISTIO_MUTUAL') {
        out.push({ resource, path: [...at, 'portLevelSettings', i, 'tls', 'mode'] })
      }
    })
  }
  for (const dr of set.destinationRules) {
    policy(dr, dr.spec.trafficPolicy, ['spec', 'trafficPolicy'])
    dr.spec.subsets?.forEach((s, i) => {
      policy(dr, s.trafficPolicy, ['spec', 'subsets', i, 'trafficPolicy'])
    })
  }
  for (const gw of set.gateways) {
    gw.spec.servers.forEach((s, i) => {
      if (s.tls?.mode === 'ISTIO_MUTUAL') {
        out.push({ resource: gw, path: ['spec', 'servers', i, 'tls', 'mode'] })
      }
    })
  }
  return out
}
