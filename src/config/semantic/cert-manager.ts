/**
 * Certificates against their issuers and the Gateways that serve them: the issuerRef exists (an
 * Issuer in the Certificate's namespace, or a ClusterIssuer), a solver of that issuer covers
 * every dnsName, and some Gateway server reads the secretName as its credentialName.
 */
import type { Diagnostic } from '../../diag/index.js'
import type { AcmeSolverSpec } from '../schema/index.js'
import type { Certificate, Issuer, ResourceSet } from '../types.js'
import { createReporter } from './report.js'

/** The Issuer or ClusterIssuer a Certificate names, as cert-manager resolves it. */
export function issuerOf(cert: Certificate, issuers: readonly Issuer[]): Issuer | undefined {
  const kind = cert.spec.issuerRef.kind ?? 'Issuer'
  return issuers.find(
    (i) =>
      i.kind === kind &&
      i.metadata.name === cert.spec.issuerRef.name &&
      (kind === 'ClusterIssuer' || i.metadata.namespace === cert.metadata.namespace),
  )
}

/** cert-manager's rule: a solver without selector matches all; dnsNames match exactly, zones by suffix. */
export function solverFor(
  name: string,
  solvers: readonly AcmeSolverSpec[],
): AcmeSolverSpec | undefined {
  const usable = solvers.filter((s) => s.http01 !== undefined || s.tlsAlpn01 !== undefined)
  return (
    usable.find((s) => s.selector?.dnsNames?.includes(name) === true) ??
    usable.find((s) => s.selector?.dnsZones?.some((z) => name === z || name.endsWith(`.${z}`))) ??
    usable.find((s) => s.selector?.dnsNames === undefined && s.selector?.dnsZones === undefined)
  )
}

export function checkCertificates(set: ResourceSet, diags: Diagnostic[]): void {
  const credentials = new Set<string>()
  for (const gw of set.gateways) {
    for (const s of gw.spec.servers) {
      if (s.tls?.credentialName !== undefined) credentials.add(s.tls.credentialName)
      for (const c of s.tls?.credentialNames ?? []) credentials.add(c)
    }
  }
  for (const cert of set.certificates) {
    const report = createReporter(cert, diags)
    const issuer = issuerOf(cert, set.issuers)
    const ref = cert.spec.issuerRef
    if (issuer === undefined) {
      report(
        'PC2010',
        ['spec', 'issuerRef', 'name'],
        `${ref.kind ?? 'Issuer'} "${ref.name}" does not exist${
          (ref.kind ?? 'Issuer') === 'Issuer' ? ` in namespace ${cert.metadata.namespace}` : ''
        }`,
      )
    } else {
      cert.spec.dnsNames.forEach((name, i) => {
        if (solverFor(name, issuer.spec.acme.solvers) === undefined) {
          report(
            'PC1901',
            ['spec', 'dnsNames', i],
            `no http01 or tlsAlpn01 solver of ${issuer.kind} ${issuer.metadata.name} selects "${name}"`,
          )
        }
      })
    }
    if (!credentials.has(cert.spec.secretName)) {
      report(
        'PC2011',
        ['spec', 'secretName'],
        `no Gateway server has credentialName "${cert.spec.secretName}"; the certificate is obtained but not served`,
      )
    }
  }
}
