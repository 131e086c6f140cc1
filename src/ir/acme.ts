/**
 * Certificates the gateway obtains itself from an ACME server (cert-manager.io/v1 Certificate
 * and its Issuer). A certificate is written where its `secretName` is read as a Gateway
 * server's `credentialName` (`<certsDir>/<secretName>/tls.crt` and `tls.key`), so the TLS
 * listener serves it like any other credential and rotates to a renewal without a restart.
 */

/** tls-alpn-01 is a Portcullis extension (cert-manager has no such solver). */
export type AcmeChallengeType = 'http-01' | 'tls-alpn-01'

export interface AcmeIssuer {
  /** `ClusterIssuer/<name>` or `Issuer/<namespace>/<name>`. */
  readonly id: string
  /** The ACME directory URL. */
  readonly directoryUrl: string
  readonly email?: string
  /** File holding the account key (PEM), created on first use: `<certsDir>/<secret>/<key>`. */
  readonly accountKeyFile: string
  /** External account binding: the key id and the file holding the base64url HMAC key. */
  readonly externalAccountBinding?: { readonly keyId: string; readonly hmacKeyFile: string }
  /** PEM certificates trusted for the ACME server besides the system roots (caBundle). */
  readonly caBundle?: string
}

export interface AcmeCertificate {
  /** `<namespace>/<name>` of the Certificate. */
  readonly id: string
  readonly secretName: string
  /** Where tls.crt and tls.key are written. */
  readonly dir: string
  /** Lower-case, in the Certificate's order; the first is the subject's common name. */
  readonly dnsNames: readonly string[]
  /** The challenge each name is validated with (from the issuer's solvers). */
  readonly challenges: Readonly<Record<string, AcmeChallengeType>>
  readonly key: { readonly algorithm: 'ECDSA' | 'RSA'; readonly size: number }
  /** Requested lifetime (the server may ignore it); absent: the server's default. */
  readonly durationMs?: number
  /** Renew this long before notAfter; absent: a third of the lifetime. */
  readonly renewBeforeMs?: number
  readonly issuer: AcmeIssuer
}

export interface AcmePlan {
  /** In file order. */
  readonly certificates: readonly AcmeCertificate[]
}
