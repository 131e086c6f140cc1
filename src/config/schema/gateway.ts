/** networking.istio.io Gateway (gateway.proto). */
import { checkDnsName } from '../../lib/index.js'
import {
  arr,
  bool,
  enumOf,
  map,
  noted,
  obj,
  planned,
  port,
  removed,
  req,
  str,
  type Infer,
} from './dsl.js'

export const SERVER_PROTOCOLS = [
  'HTTP',
  'HTTPS',
  'GRPC',
  'GRPC-WEB',
  'HTTP2',
  'MONGO',
  'TCP',
  'TLS',
] as const

/** `[namespace/]dnsName`; namespace is `*`, `.` or a name; dnsName may be `*` or `*.suffix`. */
export const serverHost = str({
  nonEmpty: true,
  checkCode: 'PC1303',
  check: (v) => {
    const slash = v.indexOf('/')
    const ns = slash >= 0 ? v.slice(0, slash) : '*'
    const name = slash >= 0 ? v.slice(slash + 1) : v
    if (ns === '' || (ns !== '*' && ns !== '.' && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns))) {
      return `"${ns}" is not a namespace (use *, . or a namespace name)`
    }
    const reason = checkDnsName(name, { allowWildcard: true })
    return reason !== undefined ? `invalid host "${v}": ${reason}` : undefined
  },
})

const TLS_VERSIONS = ['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'] as const
const TLS_LATER = 'not implemented yet; use credentialName or caCertificates'

export const serverTlsSettings = obj(
  {
    httpsRedirect: bool(),
    mode: noted(
      enumOf(
        ['PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL'],
        {
          meshOnly: {
            AUTO_PASSTHROUGH:
              'routes on SNI-encoded mesh cluster names; use PASSTHROUGH with tls routes',
          },
          meshError: true,
        },
      ),
      'AUTO_PASSTHROUGH needs a mesh and is refused (error PC1113); ISTIO_MUTUAL serves GatewayConfig spec.meshIdentity and requires client certificates from its root (without its files: error PC1113)',
    ),
    serverCertificate: str(),
    privateKey: str(),
    caCertificates: str(),
    caCrl: str(),
    credentialName: str(),
    credentialNames: arr(str(), { min: 1, max: 2 }),
    tlsCertificates: arr(
      obj({ serverCertificate: str(), privateKey: str(), caCertificates: str() }),
      { min: 1, max: 2 },
    ),
    caCertCredentialName: planned(str(), TLS_LATER),
    subjectAltNames: arr(str()),
    verifyCertificateSpki: arr(str()),
    verifyCertificateHash: arr(str()),
    minProtocolVersion: enumOf(TLS_VERSIONS),
    maxProtocolVersion: enumOf(TLS_VERSIONS),
    cipherSuites: arr(str()),
    insecureSkipVerify: planned(
      bool(),
      'not implemented yet: client certificates are always enforced',
    ),
  },
  {
    name: 'ServerTLSSettings',
    oneOf: [['credentialName', 'credentialNames', 'tlsCertificates']],
  },
)

export const server = obj(
  {
    port: req(
      obj(
        {
          number: req(port()),
          protocol: req(enumOf(SERVER_PROTOCOLS, { caseInsensitive: true })),
          name: req(str({ nonEmpty: true })),
          targetPort: removed(port(), 'the gateway listens on number'),
        },
        { name: 'Port' },
      ),
    ),
    bind: planned(str(), 'listeners bind to GatewayConfig spec.bindAddress'),
    hosts: req(arr(serverHost, { min: 1 })),
    tls: serverTlsSettings,
    defaultEndpoint: planned(str(), 'hidden in the Istio API and not implemented by Istio either'),
    name: str(),
  },
  { name: 'Server' },
)
export type Server = Infer<typeof server>

export const gatewaySpec = obj(
  {
    servers: req(arr(server, { min: 1 })),
    selector: map(str()),
  },
  { name: 'Gateway' },
)
export type GatewaySpec = Infer<typeof gatewaySpec>
