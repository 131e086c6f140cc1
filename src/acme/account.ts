/**
 * ACME clients, one per issuer: the account key comes from the store (created, ECDSA P-256,
 * and saved on first use); the account is registered (or found again, RFC 8555 §7.3.1) before
 * the first order. An EAB HMAC key is read from its file (base64url, as CAs hand it out).
 */
import { Agent } from 'node:https'
import { rootCertificates } from 'node:tls'
import type * as AcmeClient from 'acme-client'
import type * as ir from '../ir/index.js'
import { lazyModule } from '../lib/index.js'
import { readOptional } from './files.js'

/** Loaded with the first Certificate, not at start-up (lib/lazy-module.ts). */
export const acmeClient = lazyModule<typeof AcmeClient>('acme-client')

/**
 * acme-client sends through one axios instance; its agent trusts the system roots plus every
 * issuer's caBundle (a private ACME server's root).
 */
export function trustIssuers(issuers: readonly ir.AcmeIssuer[]): void {
  // Nothing to trust and nothing to send yet: acme-client stays unloaded.
  if (issuers.length === 0) return
  const acme = acmeClient()
  ownRetries(acme)
  const bundles = issuers.flatMap((i) => (i.caBundle !== undefined ? [i.caBundle] : []))
  if (bundles.length === 0) return
  acme.axios.defaults.httpsAgent = new Agent({ ca: [...rootCertificates, ...bundles] })
}

/**
 * acme-client retries a refused connection or a 5xx five times, 5 to 25 s apart, inside one
 * request: an attempt against a CA that is down then takes over a minute and the state says
 * "ordering" throughout. The manager's own backoff (renewal.ts, visible in the admin view)
 * retries instead, and a request that hangs fails after 30 s.
 */
function ownRetries(acme: typeof AcmeClient): void {
  const defaults = acme.axios.defaults as typeof acme.axios.defaults & {
    acmeSettings?: { retryMaxAttempts?: number }
  }
  if (defaults.acmeSettings !== undefined) defaults.acmeSettings.retryMaxAttempts = 0
  defaults.timeout = 30_000
}

/** A new account key (ECDSA P-256); the store saves it on first use. */
export async function newAccountKey(): Promise<string> {
  return (await acmeClient().crypto.createPrivateEcdsaKey('P-256')).toString()
}

export async function createClient(issuer: ir.AcmeIssuer, key: string): Promise<AcmeClient.Client> {
  const acme = acmeClient()
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
  try {
    await client.createAccount({
      termsOfServiceAgreed: true,
      ...(issuer.email !== undefined ? { contact: [`mailto:${issuer.email}`] } : {}),
    })
  } catch (err) {
    throw eab !== undefined ? refusedBinding(err, eab) : err
  }
  return client
}

/**
 * The CA's own words for a bad binding are about JWS and MACs ("error in cryptographic
 * primitive"): say which key id and which file the operator has to check. A network error
 * stays as it is (explainError says the server cannot be reached).
 */
function refusedBinding(
  err: unknown,
  eab: NonNullable<ir.AcmeIssuer['externalAccountBinding']>,
): unknown {
  if (!(err instanceof Error) || err instanceof TypeError) return err
  return new Error(
    `the ACME server refused the account with external account binding keyID=${eab.keyId} (HMAC key from ${eab.hmacKeyFile}): ${err.message}`,
  )
}

/**
 * acme-client 5.4 loses a network error (refused, reset, DNS, timeout): its response
 * interceptor reads `response.config` of a response that does not exist and throws a TypeError
 * instead. Say what happened.
 */
export function explainError(err: unknown, issuer: ir.AcmeIssuer): string {
  const message = err instanceof Error ? err.message : String(err)
  if (err instanceof TypeError && /reading 'config'/.test(message)) {
    return `the ACME server ${issuer.directoryUrl} cannot be reached (no response)`
  }
  return message
}
