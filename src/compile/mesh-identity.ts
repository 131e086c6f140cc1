/**
 * ISTIO_MUTUAL, compiled the way Istio's sidecar builds it (pilot/pkg/networking/core/
 * cluster_tls.go, buildIstioMutualTLS): the mesh certificate chain and key identify the gateway,
 * the mesh root verifies the peer, SNI defaults to the cluster's name with `|` written `_.`
 * (`outbound_.9080_.v1_.reviews.default.svc.cluster.local`), and ALPN is what a sidecar offers
 * (the `istio` value tells the peer's sidecar this is mesh traffic; the istio-http/istio-h2
 * values are what Istio's ALPN filter sends per upstream protocol). The files are only named
 * here; validation checks that they exist and runtime reads and checks them.
 */
import type * as istio from '../config/index.js'
import { istioMutualUses, meshIdentityFiles } from '../config/index.js'
import { formatPath } from '../diag/index.js'
import type * as ir from '../ir/index.js'

/** Istio's mtlsHTTP11ALPN: offered on ISTIO_MUTUAL connections that carry HTTP/1.1. */
export const ISTIO_HTTP11_ALPN: readonly string[] = ['istio-http/1.1', 'istio', 'http/1.1']
/**
 * Istio's ALPNInMesh, for TCP and TLS ports. Not ALPNInMeshWithMxc: `istio-peer-exchange` would
 * have the peer's sidecar wait for the metadata-exchange header, which is not sent here.
 */
export const ISTIO_TCP_ALPN: readonly string[] = ['istio']

/** The mesh identity files and trust domain, with paths resolved. */
export interface MeshIdentity {
  readonly certFile: string
  readonly keyFile: string
  readonly caFile: string
  readonly trustDomain: string
}

export function compileMeshIdentity(gc: istio.GatewayConfig | undefined): MeshIdentity {
  const f = meshIdentityFiles(gc)
  return {
    certFile: f.certChain,
    keyFile: f.privateKey,
    caFile: f.rootCert,
    trustDomain: f.trustDomain,
  }
}

/** Istio's SNI for ISTIO_MUTUAL without `sni`: the cluster name, `|` replaced by `_.`. */
export function istioMutualSni(cluster: ir.ClusterId): string {
  return cluster.replaceAll('|', '_.')
}

export function istioMutualAlpn(protocol: ir.ServiceProtocol | undefined): readonly string[] {
  return protocol === 'TCP' || protocol === 'TLS' || protocol === 'MONGO'
    ? ISTIO_TCP_ALPN
    : ISTIO_HTTP11_ALPN
}

/**
 * The mesh identity files as one certificate asset, so runtime checks them like a server's
 * (PEM, key pair, validity) and reports a problem at the GatewayConfig field that named the
 * file, or, for a default path, at the first ISTIO_MUTUAL that needs it. Undefined when nothing
 * uses ISTIO_MUTUAL.
 */
export function meshIdentityAssets(resources: istio.ResourceSet): ir.ServerTlsAssets | undefined {
  const uses = istioMutualUses(resources)
  const first = uses[0]
  if (first === undefined) return undefined
  const gc = resources.gatewayConfig
  const files = meshIdentityFiles(gc)
  const at = (k: 'certChain' | 'privateKey' | 'rootCert'): ir.AssetFile => {
    const [r, path]: [istio.AnyResource, istio.Path] =
      gc !== undefined && files.configured.has(k)
        ? [gc, ['spec', 'meshIdentity', k]]
        : [first.resource, first.path]
    const loc = r.origin.locate(path)
    return {
      file: files[k],
      origin: {
        resource: { kind: r.kind, namespace: r.metadata.namespace, name: r.metadata.name },
        path: formatPath(path),
        file: loc.file,
        line: loc.line,
        col: loc.col,
      },
    }
  }
  return {
    server: 'mesh identity (GatewayConfig spec.meshIdentity)',
    // A workload certificate names a SPIFFE identity, not the hosts a server answers for.
    hosts: [],
    certificates: [{ cert: at('certChain'), key: at('privateKey') }],
    ca: at('rootCert'),
  }
}
