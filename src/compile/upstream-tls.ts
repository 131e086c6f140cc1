/**
 * DestinationRule ClientTLSSettings → ir.UpstreamTlsPolicy: which files verify the upstream and
 * identify the gateway to it. File names only; the data plane reads them.
 *
 * Plain paths resolve against the DestinationRule's directory. `credentialName: NAME` reads the
 * Kubernetes TLS Secret layout from the certs directory (as for Gateway servers):
 * `<certsDir>/NAME/tls.crt`, `tls.key` (MUTUAL), `ca.crt` and `ca.crl`, each used when present.
 * Explicit fields win over the credential's files.
 */
import { dirname, isAbsolute, join } from 'node:path'
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'
import { DEFAULT_CERTS_DIR } from './server-tls.js'
import { compileMeshIdentity, istioMutualAlpn, istioMutualSni } from './mesh-identity.js'
import type { MeshIdentity } from './mesh-identity.js'

type ClientTls = NonNullable<NonNullable<istio.DestinationRuleSpec['trafficPolicy']>['tls']>

/** Where the files of one DestinationRule resolve. */
export interface TlsFileBase {
  /** The rule's own directory. */
  readonly dir: string
  readonly certsDir: string
  /** GatewayConfig spec.meshIdentity (or Istio's default files), for ISTIO_MUTUAL. */
  readonly mesh?: MeshIdentity
  /** The cluster the policy is for: its name is ISTIO_MUTUAL's default SNI. */
  readonly cluster?: ir.ClusterId
  readonly protocol?: ir.ServiceProtocol
}

/** certsDir is GatewayConfig `spec.certsDir` (relative to that file), else `./certs` next to the rule. */
export function tlsFileBase(
  config: istio.GatewayConfig | undefined,
  rule: { readonly origin: { readonly file: string } },
): TlsFileBase {
  const dir = dirname(rule.origin.file)
  const certs = config?.spec.certsDir ?? DEFAULT_CERTS_DIR
  const certsDir = isAbsolute(certs)
    ? certs
    : join(config !== undefined ? dirname(config.origin.file) : dir, certs)
  return { dir, certsDir, mesh: compileMeshIdentity(config) }
}

export function compileUpstreamTls(
  tls: ClientTls | undefined,
  host: string,
  base: TlsFileBase | undefined,
): ir.UpstreamTlsPolicy | undefined {
  if (tls === undefined || tls.mode === undefined || tls.mode === 'DISABLE') return undefined
  if (tls.mode === 'ISTIO_MUTUAL') return compileIstioMutual(tls, host, base)
  const file = (f: string | undefined): string | undefined =>
    f === undefined || f === ''
      ? undefined
      : isAbsolute(f) || base === undefined
        ? f
        : join(base.dir, f)
  const cred =
    tls.credentialName !== undefined && tls.credentialName !== ''
      ? join(base?.certsDir ?? DEFAULT_CERTS_DIR, tls.credentialName)
      : undefined
  const mutual = tls.mode === 'MUTUAL'
  const certFile = mutual
    ? (file(tls.clientCertificate) ?? (cred !== undefined ? join(cred, 'tls.crt') : undefined))
    : undefined
  const keyFile = mutual
    ? (file(tls.privateKey) ?? (cred !== undefined ? join(cred, 'tls.key') : undefined))
    : undefined
  const explicitCa = file(tls.caCertificates)
  const caFile = explicitCa ?? (cred !== undefined ? join(cred, 'ca.crt') : undefined)
  const explicitCrl = file(tls.caCrl)
  const crlFile = explicitCrl ?? (cred !== undefined ? join(cred, 'ca.crl') : undefined)
  const sni = tls.sni !== undefined && tls.sni !== '' ? tls.sni : host
  return {
    mode: tls.mode,
    ...(certFile !== undefined ? { certFile } : {}),
    ...(keyFile !== undefined ? { keyFile } : {}),
    ...(caFile !== undefined ? { caFile } : {}),
    ...(caFile !== undefined && explicitCa === undefined ? { caOptional: true } : {}),
    ...(crlFile !== undefined ? { crlFile } : {}),
    ...(crlFile !== undefined && explicitCrl === undefined ? { crlOptional: true } : {}),
    ...(tls.credentialName !== undefined && tls.credentialName !== ''
      ? { credentialName: tls.credentialName }
      : {}),
    subjectAltNames: (tls.subjectAltNames ?? []).map(stripSanType),
    sni,
    insecureSkipVerify: tls.insecureSkipVerify ?? false,
  }
}

/**
 * ISTIO_MUTUAL: the mesh identity instead of certificate fields (Istio ignores them for this
 * mode), `sni` when set, else the cluster name; `subjectAltNames` narrow the accepted peers
 * within the trust domain.
 */
function compileIstioMutual(
  tls: ClientTls,
  host: string,
  base: TlsFileBase | undefined,
): ir.UpstreamTlsPolicy {
  const mesh = base?.mesh ?? compileMeshIdentity(undefined)
  const sni =
    tls.sni !== undefined && tls.sni !== ''
      ? tls.sni
      : base?.cluster !== undefined
        ? istioMutualSni(base.cluster)
        : host
  return {
    mode: 'ISTIO_MUTUAL',
    mesh: { trustDomain: mesh.trustDomain, alpn: istioMutualAlpn(base?.protocol) },
    certFile: mesh.certFile,
    keyFile: mesh.keyFile,
    caFile: mesh.caFile,
    subjectAltNames: (tls.subjectAltNames ?? []).map(stripSanType),
    sni,
    insecureSkipVerify: false,
  }
}

/** Accept an OpenSSL-style `DNS:`/`URI:` prefix on a SAN, as for Gateway servers. */
function stripSanType(san: string): string {
  const m = /^(URI|DNS|IP Address|IP):(.*)$/.exec(san)
  return m !== null ? m[2]! : san
}
