/**
 * Gateway ServerTLSSettings → ir.ServerTlsSettings: where the certificate files are, how clients
 * are verified, and the protocol parameters. File names only; reading and checking the files is
 * runtime's job (compile does no I/O).
 *
 * `credentialName: NAME` is a Kubernetes TLS Secret laid out as files: `<certsDir>/NAME/tls.crt`,
 * `tls.key`, and optionally `ca.crt` (client CA) and `ca.crl`. certsDir is GatewayConfig
 * `spec.certsDir` (default `./certs`), relative to the file that sets it, or to the Gateway's file.
 */
import { dirname, isAbsolute, join } from 'node:path'
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'
import { formatPath } from '../diag/index.js'
import type { DiagSink } from './diagnostics.js'
import type { GatewayServer } from './servers.js'
import type { MeshIdentity } from './mesh-identity.js'

/** Mozilla "intermediate" TLS 1.2 suites, in the order the server prefers them. */
export const INTERMEDIATE_CIPHERS: readonly string[] = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
]

/** The suites Istio accepts in cipherSuites; others are dropped with a warning, as Istio does. */
const ISTIO_CIPHERS: ReadonlySet<string> = new Set([
  ...INTERMEDIATE_CIPHERS,
  'ECDHE-ECDSA-AES128-SHA',
  'ECDHE-RSA-AES128-SHA',
  'ECDHE-ECDSA-AES256-SHA',
  'ECDHE-RSA-AES256-SHA',
  'AES128-GCM-SHA256',
  'AES256-GCM-SHA384',
  'AES128-SHA',
  'AES256-SHA',
  'DES-CBC3-SHA',
])

const VERSIONS: Readonly<Record<string, ir.TlsVersion>> = {
  TLSV1_0: 'TLSv1',
  TLSV1_1: 'TLSv1.1',
  TLSV1_2: 'TLSv1.2',
  TLSV1_3: 'TLSv1.3',
}

export const DEFAULT_CERTS_DIR = './certs'

/** The directory `credentialName` resolves in, for servers of `gateway` (or a Certificate's). */
export function certsDirFor(
  config: istio.GatewayConfig | undefined,
  gateway: Pick<istio.Gateway, 'origin'>,
): string {
  const dir = config?.spec.certsDir ?? DEFAULT_CERTS_DIR
  if (isAbsolute(dir)) return dir
  const base = config !== undefined ? config.origin.file : gateway.origin.file
  return join(dirname(base), dir)
}

function fileIn(base: string, file: string): string {
  return isAbsolute(file) ? file : join(base, file)
}

/** Where `s` names a file: the field's path and position, for runtime's file checks. */
function originOf(s: GatewayServer, path: istio.Path): ir.AssetOrigin {
  const { kind, metadata } = s.gateway
  const loc = s.gateway.origin.locate(path)
  return {
    resource: { kind, namespace: metadata.namespace, name: metadata.name },
    path: formatPath(path),
    file: loc.file,
    line: loc.line,
    col: loc.col,
  }
}

/**
 * Returns undefined for PASSTHROUGH (and AUTO_PASSTHROUGH, refused by validation). `certsDir`
 * is the resolved certs directory; plain file paths resolve against the Gateway's directory.
 * `assets`, when given, receives the server's files with the fields that named them.
 */
export function compileServerTls(
  s: GatewayServer,
  certsDir: string,
  sink: DiagSink,
  assets?: ir.ServerTlsAssets[],
  mesh?: MeshIdentity,
): ir.ServerTlsSettings | undefined {
  const tls = s.server.tls
  const mode = tls?.mode ?? 'PASSTHROUGH'
  if (tls !== undefined && mode === 'ISTIO_MUTUAL' && mesh !== undefined) {
    return istioMutualServer(tls, mesh, s, sink)
  }
  if (tls === undefined || (mode !== 'SIMPLE' && mode !== 'MUTUAL' && mode !== 'OPTIONAL_MUTUAL'))
    return undefined
  const tp = [...s.path, 'tls']
  const base = dirname(s.gateway.origin.file)
  const certificates: ir.CertificateFiles[] = []
  // Field paths alongside the files, for the asset list.
  const certFields: [cert: istio.Path, key: istio.Path][] = []
  let caFile: string | undefined
  let caField: istio.Path = []
  let crlFile: string | undefined
  let crlField: istio.Path = []
  const credentials =
    tls.credentialName !== undefined ? [tls.credentialName] : (tls.credentialNames ?? [])
  credentials.forEach((name, i) => {
    const dir = join(certsDir, name)
    const field =
      tls.credentialName !== undefined ? [...tp, 'credentialName'] : [...tp, 'credentialNames', i]
    certificates.push({ certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') })
    certFields.push([field, field])
    // The CA and CRL come from the first credential, as Istio reads them.
    if (caFile === undefined && mode !== 'SIMPLE') {
      caFile = join(dir, 'ca.crt')
      crlFile = join(dir, 'ca.crl')
      caField = field
      crlField = field
    }
  })
  ;(tls.tlsCertificates ?? []).forEach((pair, i) => {
    if (pair.serverCertificate === undefined || pair.privateKey === undefined) return
    certificates.push({
      certFile: fileIn(base, pair.serverCertificate),
      keyFile: fileIn(base, pair.privateKey),
    })
    const pp = [...tp, 'tlsCertificates', i]
    certFields.push([
      [...pp, 'serverCertificate'],
      [...pp, 'privateKey'],
    ])
    if (caFile === undefined && pair.caCertificates !== undefined) {
      caFile = fileIn(base, pair.caCertificates)
      caField = [...pp, 'caCertificates']
    }
  })
  if (tls.serverCertificate !== undefined && tls.privateKey !== undefined) {
    certificates.push({
      certFile: fileIn(base, tls.serverCertificate),
      keyFile: fileIn(base, tls.privateKey),
    })
    certFields.push([
      [...tp, 'serverCertificate'],
      [...tp, 'privateKey'],
    ])
  }
  if (tls.caCertificates !== undefined) {
    caFile = fileIn(base, tls.caCertificates)
    caField = [...tp, 'caCertificates']
  }
  // With credentialName the CRL is optional (used when ca.crl exists); an explicit caCrl is not.
  const crlOptional = tls.caCrl === undefined
  if (tls.caCrl !== undefined) {
    crlFile = fileIn(base, tls.caCrl)
    crlField = [...tp, 'caCrl']
  }

  const client: ir.ClientValidation | undefined =
    mode === 'SIMPLE' || caFile === undefined
      ? undefined
      : {
          required: mode === 'MUTUAL',
          caFile,
          ...(crlFile !== undefined ? { crlFile } : {}),
          ...(crlFile !== undefined && crlOptional ? { crlOptional: true } : {}),
          subjectAltNames: (tls.subjectAltNames ?? []).map(stripSanType),
          spkiSha256: [...(tls.verifyCertificateSpki ?? [])],
          certSha256: (tls.verifyCertificateHash ?? []).map((h) =>
            h.replaceAll(':', '').toLowerCase(),
          ),
        }

  const { minVersion, maxVersion, cipherSuites } = protocolParameters(tls, s, tp, sink)
  if (assets !== undefined) {
    assets.push({
      server: `${s.gatewayKey}/${s.server.port.name}`,
      hosts: [...new Set(s.hosts.map((h) => h.host))],
      certificates: certificates.map((c, i) => ({
        cert: { file: c.certFile, origin: originOf(s, certFields[i]![0]) },
        key: { file: c.keyFile, origin: originOf(s, certFields[i]![1]) },
      })),
      ...(client !== undefined
        ? { ca: { file: client.caFile, origin: originOf(s, caField) } }
        : {}),
      ...(client?.crlFile !== undefined
        ? { crl: { file: client.crlFile, origin: originOf(s, crlField), optional: crlOptional } }
        : {}),
    })
  }
  return {
    mode,
    certificates,
    ...(client !== undefined ? { client } : {}),
    minVersion,
    maxVersion,
    cipherSuites,
  }
}

type ServerTls = NonNullable<GatewayServer['server']['tls']>

function protocolParameters(
  tls: ServerTls,
  s: GatewayServer,
  tp: istio.Path,
  sink: DiagSink,
): Pick<ir.ServerTlsSettings, 'minVersion' | 'maxVersion' | 'cipherSuites'> {
  const minVersion = VERSIONS[tls.minProtocolVersion ?? ''] ?? 'TLSv1.2'
  const maxVersion = VERSIONS[tls.maxProtocolVersion ?? ''] ?? 'TLSv1.3'
  const cipherSuites: string[] = []
  ;(tls.cipherSuites ?? []).forEach((c, i) => {
    if (ISTIO_CIPHERS.has(c)) cipherSuites.push(c)
    else {
      sink.report(
        'PC4005',
        s.gateway,
        [...tp, 'cipherSuites', i],
        `"${c}" is not a cipher suite Istio accepts; it is left out`,
      )
    }
  })
  return {
    minVersion,
    maxVersion,
    cipherSuites: cipherSuites.length > 0 ? cipherSuites : INTERMEDIATE_CIPHERS,
  }
}

/**
 * ISTIO_MUTUAL on a Gateway server, as Istio's gateway builds it: the mesh certificate chain is
 * served, a client certificate that the mesh root signed is required, and `subjectAltNames`
 * narrow the accepted clients (Istio adds no trust-domain check on gateways). The files are
 * checked once, as the mesh identity asset (compile/mesh-identity.ts), not per server.
 */
function istioMutualServer(
  tls: ServerTls,
  mesh: MeshIdentity,
  s: GatewayServer,
  sink: DiagSink,
): ir.ServerTlsSettings {
  return {
    mode: 'ISTIO_MUTUAL',
    certificates: [{ certFile: mesh.certFile, keyFile: mesh.keyFile }],
    client: {
      required: true,
      caFile: mesh.caFile,
      subjectAltNames: (tls.subjectAltNames ?? []).map(stripSanType),
      spkiSha256: [...(tls.verifyCertificateSpki ?? [])],
      certSha256: (tls.verifyCertificateHash ?? []).map((h) => h.replaceAll(':', '').toLowerCase()),
    },
    ...protocolParameters(tls, s, [...s.path, 'tls'], sink),
  }
}

/** Istio's subjectAltNames are bare values; accept an OpenSSL-style `URI:`/`DNS:` prefix too. */
function stripSanType(san: string): string {
  const m = /^(URI|DNS|IP Address|email):(.*)$/.exec(san)
  return m !== null ? m[2]! : san
}
