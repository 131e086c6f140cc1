/**
 * cert-manager.io/v1 Certificate, Issuer and ClusterIssuer, as users already write them for
 * cert-manager. Portcullis acts on the ACME issuer itself (docs/acme.md): a Certificate's
 * `secretName` is the `credentialName` a Gateway server reads. Fields only cert-manager's
 * Kubernetes controller acts on (its Ingress solver, Secret templates, keystores) are accepted
 * and reported as ignored, with the reason.
 */
import {
  any,
  arr,
  bool,
  duration,
  enumOf,
  int,
  kubernetesOnly,
  map,
  obj,
  partial,
  noted,
  planned,
  req,
  str,
  type Infer,
} from './dsl.js'

const K8S_SOLVER =
  'cert-manager creates a Kubernetes Ingress or HTTPRoute for the challenge; Portcullis answers it on its own port-80 servers'
const K8S_SECRET = 'it shapes the Kubernetes Secret; Portcullis stores the certificate itself'
const DNS01 = 'dns-01 needs a DNS provider; Portcullis solves http-01 (use a solver with http01)'

const secretKeySelector = obj(
  { name: req(str({ nonEmpty: true })), key: str({ nonEmpty: true }) },
  { name: 'SecretKeySelector' },
)

const http01 = obj(
  {
    ingress: kubernetesOnly(any('ACMEChallengeSolverHTTP01Ingress'), K8S_SOLVER),
    gatewayHTTPRoute: kubernetesOnly(any('ACMEChallengeSolverHTTP01GatewayHTTPRoute'), K8S_SOLVER),
  },
  { name: 'ACMEChallengeSolverHTTP01' },
)

const solverSelector = obj(
  {
    dnsNames: arr(str({ nonEmpty: true })),
    dnsZones: arr(str({ nonEmpty: true })),
    matchLabels: map(str()),
  },
  { name: 'CertificateDNSNameSelector' },
)

const solver = obj(
  {
    selector: solverSelector,
    http01,
    /** Portcullis extension: answered on the TLS listener by `acme-tls/1` in the ClientHello. */
    tlsAlpn01: noted(
      obj({}, { name: 'ACMEChallengeSolverTLSALPN01' }),
      'Portcullis extension: answered on the TLS listener the CA validates on (443) when the ClientHello offers only acme-tls/1',
    ),
    dns01: kubernetesOnly(any('ACMEChallengeSolverDNS01'), DNS01),
  },
  { name: 'ACMEChallengeSolver' },
)

const externalAccountBinding = obj(
  {
    keyID: req(str({ nonEmpty: true })),
    keySecretRef: req(secretKeySelector),
    keyAlgorithm: kubernetesOnly(
      enumOf(['HS256', 'HS384', 'HS512']),
      'deprecated in cert-manager; the algorithm is always HS256',
    ),
  },
  { name: 'ACMEExternalAccountBinding' },
)

const acmeIssuer = obj(
  {
    server: req(
      str({
        check: (v) => (/^https:\/\//.test(v) ? undefined : `"${v}" is not an https:// URL`),
      }),
    ),
    email: str({ nonEmpty: true }),
    privateKeySecretRef: req(secretKeySelector),
    externalAccountBinding,
    skipTLSVerify: planned(bool(), 'trust a private ACME server with caBundle instead'),
    caBundle: str({
      check: (v) =>
        Buffer.from(v, 'base64').toString('latin1').includes('-----BEGIN CERTIFICATE-----')
          ? undefined
          : 'not base64-encoded PEM certificates',
    }),
    preferredChain: planned(str(), 'the default chain is used'),
    disableAccountKeyGeneration: kubernetesOnly(bool(), K8S_SECRET),
    enableDurationFeature: bool(),
    solvers: req(arr(solver, { min: 1 })),
  },
  { name: 'ACMEIssuer' },
)

const OTHER_ISSUER = 'only the acme issuer is implemented'

export const issuerSpec = obj(
  {
    acme: req(acmeIssuer),
    ca: kubernetesOnly(any('CAIssuer'), OTHER_ISSUER),
    selfSigned: kubernetesOnly(any('SelfSignedIssuer'), OTHER_ISSUER),
    vault: kubernetesOnly(any('VaultIssuer'), OTHER_ISSUER),
    venafi: kubernetesOnly(any('VenafiIssuer'), OTHER_ISSUER),
  },
  { name: 'Issuer' },
)
export type IssuerSpec = Infer<typeof issuerSpec>
export type AcmeIssuerSpec = Infer<typeof acmeIssuer>
export type AcmeSolverSpec = Infer<typeof solver>

const privateKey = obj(
  {
    algorithm: enumOf(['ECDSA', 'RSA']),
    size: int({ min: 256, max: 8192 }),
    encoding: kubernetesOnly(enumOf(['PKCS1', 'PKCS8']), K8S_SECRET),
    rotationPolicy: kubernetesOnly(
      enumOf(['Never', 'Always']),
      'every issuance uses a new private key',
    ),
  },
  {
    name: 'CertificatePrivateKey',
    check: (v, ctx, path) => {
      const size = v.size
      if (size === undefined) return
      const ok = v.algorithm === 'RSA' ? size >= 2048 && size % 8 === 0 : [256, 384].includes(size)
      if (!ok) {
        ctx.issues.push({
          code: 'PC1104',
          path: [...path, 'size'],
          message:
            v.algorithm === 'RSA'
              ? 'an RSA key size is a multiple of 8, at least 2048'
              : 'an ECDSA key size is 256 or 384',
        })
      }
    },
  },
)

const DNS_NAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

export const certificateSpec = obj(
  {
    secretName: req(str({ nonEmpty: true })),
    dnsNames: req(
      arr(
        str({
          check: (v) => (DNS_NAME.test(v) ? undefined : `"${v}" is not a lower-case DNS name`),
          checkCode: 'PC1112',
        }),
        { min: 1 },
      ),
    ),
    commonName: str({ nonEmpty: true }),
    duration: partial(
      duration({ minMs: 1000 }),
      'not sent to the ACME server, which chooses the lifetime; renewal is timed on the issued certificate',
    ),
    renewBefore: duration({ minMs: 1000 }),
    privateKey,
    issuerRef: req(
      obj(
        {
          name: req(str({ nonEmpty: true })),
          kind: enumOf(['Issuer', 'ClusterIssuer']),
          group: enumOf(['cert-manager.io']),
        },
        { name: 'ObjectReference' },
      ),
    ),
    secretTemplate: kubernetesOnly(any('CertificateSecretTemplate'), K8S_SECRET),
    keystores: kubernetesOnly(any('CertificateKeystores'), K8S_SECRET),
    revisionHistoryLimit: kubernetesOnly(
      int({ min: 1 }),
      'CertificateRequest objects exist only in Kubernetes',
    ),
    usages: kubernetesOnly(arr(str()), 'the ACME server decides the key usages'),
    ipAddresses: planned(arr(str()), 'only dnsNames are ordered'),
  },
  {
    name: 'Certificate',
    check: (v, ctx, path) => {
      if (v.duration !== undefined && v.renewBefore !== undefined && v.renewBefore >= v.duration) {
        ctx.issues.push({
          code: 'PC1104',
          path: [...path, 'renewBefore'],
          message: 'renewBefore must be shorter than duration',
        })
      }
    },
  },
)
export type CertificateSpec = Infer<typeof certificateSpec>
