/**
 * cert-manager Certificates and Issuers → ir.AcmePlan. Secrets are directories of the certs
 * directory, as for credentialName: the certificate goes to `<certsDir>/<secretName>/`, the
 * account key to `<certsDir>/<privateKeySecretRef.name>/<key or tls.key>`, the EAB HMAC key is
 * read from `<certsDir>/<keySecretRef.name>/<key or secret>`. Certificates whose issuer is
 * missing were reported by config/ and are left out.
 */
import { join } from 'node:path'
import * as config from '../config/index.js'
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'
import { certsDirFor } from './server-tls.js'

const DEFAULT_KEY_SIZE = { ECDSA: 256, RSA: 2048 } as const

function issuerId(i: istio.Issuer): string {
  return i.kind === 'ClusterIssuer'
    ? `ClusterIssuer/${i.metadata.name}`
    : `Issuer/${i.metadata.namespace}/${i.metadata.name}`
}

function compileIssuer(i: istio.Issuer, certsDir: string): ir.AcmeIssuer {
  const acme = i.spec.acme
  const eab = acme.externalAccountBinding
  const account = acme.privateKeySecretRef
  return {
    id: issuerId(i),
    directoryUrl: acme.server,
    ...(acme.email !== undefined ? { email: acme.email } : {}),
    accountKeyFile: join(certsDir, account.name, account.key ?? 'tls.key'),
    ...(eab !== undefined
      ? {
          externalAccountBinding: {
            keyId: eab.keyID,
            hmacKeyFile: join(certsDir, eab.keySecretRef.name, eab.keySecretRef.key ?? 'secret'),
          },
        }
      : {}),
    ...(acme.caBundle !== undefined
      ? { caBundle: Buffer.from(acme.caBundle, 'base64').toString('latin1') }
      : {}),
  }
}

export function compileAcme(resources: istio.ResourceSet): ir.AcmePlan | undefined {
  const certificates: ir.AcmeCertificate[] = []
  for (const cert of resources.certificates) {
    const issuer = config.issuerOf(cert, resources.issuers)
    if (issuer === undefined) continue
    const certsDir = certsDirFor(resources.gatewayConfig, cert)
    const challenges: Record<string, ir.AcmeChallengeType> = {}
    for (const name of cert.spec.dnsNames) {
      const solver = config.solverFor(name, issuer.spec.acme.solvers)
      if (solver !== undefined) {
        challenges[name] = solver.http01 !== undefined ? 'http-01' : 'tls-alpn-01'
      }
    }
    const algorithm = cert.spec.privateKey?.algorithm ?? 'ECDSA'
    certificates.push({
      id: `${cert.metadata.namespace}/${cert.metadata.name}`,
      secretName: cert.spec.secretName,
      dir: join(certsDir, cert.spec.secretName),
      dnsNames: [...cert.spec.dnsNames],
      challenges,
      key: { algorithm, size: cert.spec.privateKey?.size ?? DEFAULT_KEY_SIZE[algorithm] },
      ...(cert.spec.duration !== undefined ? { durationMs: cert.spec.duration } : {}),
      ...(cert.spec.renewBefore !== undefined ? { renewBeforeMs: cert.spec.renewBefore } : {}),
      issuer: compileIssuer(issuer, certsDirFor(resources.gatewayConfig, issuer)),
    })
  }
  return certificates.length > 0 ? { certificates } : undefined
}
