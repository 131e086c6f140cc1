const CRL_BLOCK = /-----BEGIN X509 CRL-----[^-]+-----END X509 CRL-----/g

/**
 * One PEM string passed to node:tls as `crl` loads only its first CRL, and once CRLs are on,
 * OpenSSL requires one for every issuer: a file with a CRL per CA must be passed as a list.
 */
export function splitCrls(pem: Buffer): string[] {
  const blocks = pem.toString('latin1').match(CRL_BLOCK)
  return blocks === null ? [pem.toString('latin1')] : [...blocks]
}
