/**
 * ACME clients, one per issuer: the account key comes from the store (created, ECDSA P-256,
 * and saved on first use); the account is registered (or found again, RFC 8555 §7.3.1) before
 * the first order. An EAB HMAC key is read from its file (base64url, as CAs hand it out).
 */
import { Agent } from 'node:https'
import { rootCertificates } from 'node:tls'
import * as acme from 'acme-client'
import type * as ir from '../ir/index.js'
import { readOptional } from './files.js'

/**
 * acme-client sends through one axios instance; its agent trusts the system roots plus every
 * issuer's caBundle (a private ACME server's root).
 */
export function trustIssuers(issuers: readonly ir.AcmeIssuer[]): void {
  const bundles = issuers.flatMap((i) => (i.caBundle !== undefined ? [i.caBundle] : []))
  if (bundles.length === 0) return
  acme.axios.defaults.httpsAgent = new Agent({ ca: [...rootCertificates, ...bundles] })
}

/** A new account key (ECDSA P-256); the store saves it on first use. */
export async function newAccountKey(): Promise<string> {
  return (await acme.crypto.createPrivateEcdsaKey('P-256')).toString()
}

export async function createClient(issuer: ir.AcmeIssuer, key: string): Promise<acme.Client> {
  const eab = issuer.externalAccountBinding
  const hmacKey = eab !== undefined ? await readOptional(eab.hmacKeyFile) : undefined
  if (eab !== undefined && hmacKey === undefined) {
    throw new Error(`the external account binding key ${eab.hmacKeyFile} cannot be read`)
  }
  const client = new acme.Client({
    directoryUrl: issuer.directoryUrl,
    accountKey: key,
    backoffMin: 200,
    backoffMax: 2000,
    ...(eab !== undefined && hmacKey !== undefined
      ? { externalAccountBinding: { kid: eab.keyId, hmacKey: hmacKey.trim() } }
      : {}),
  })
  await client.createAccount({
    termsOfServiceAgreed: true,
    ...(issuer.email !== undefined ? { contact: [`mailto:${issuer.email}`] } : {}),
  })
  return client
}
