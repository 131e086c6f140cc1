/**
 * One ACME order for one Certificate with acme-client's low-level API (RFC 8555 §7.4): create
 * the order, answer each pending authorization with the challenge type the issuer's solver
 * chose for that name, finalize with a CSR over a fresh key, download the chain. `stillHeld` is
 * asked before finalizing: a replica that lost the order lock stops there.
 */
import type * as AcmeClient from 'acme-client'
import type * as ir from '../ir/index.js'
import type { Logger } from '../lib/index.js'
import { acmeClient } from './account.js'
import type { ChallengeStore } from './challenge-store.js'

export interface OrderDeps {
  readonly client: AcmeClient.Client
  readonly challenges: ChallengeStore
  readonly log: Logger
  readonly stillHeld: () => Promise<boolean>
}

export interface Issued {
  readonly cert: string
  readonly key: string
}

async function newKey(key: ir.AcmeCertificate['key']): Promise<Buffer> {
  return key.algorithm === 'RSA'
    ? acmeClient().crypto.createPrivateRsaKey(key.size)
    : acmeClient().crypto.createPrivateEcdsaKey(key.size === 384 ? 'P-384' : 'P-256')
}

export async function placeOrder(cert: ir.AcmeCertificate, deps: OrderDeps): Promise<Issued> {
  const { client, challenges, log } = deps
  const order = await client.createOrder({
    identifiers: cert.dnsNames.map((value) => ({ type: 'dns', value })),
  })
  log.info('acme order created', { certificate: cert.id, order: order.url })
  const authorizations = await client.getAuthorizations(order)
  for (const authz of authorizations) {
    if (authz.status === 'valid') continue
    const name = authz.identifier.value
    const type = cert.challenges[name] ?? 'http-01'
    const challenge = authz.challenges.find((c) => c.type === type)
    if (challenge === undefined) {
      throw new Error(`the ACME server offers no ${type} challenge for ${name}`)
    }
    const keyAuthorization = await client.getChallengeKeyAuthorization(challenge)
    if (type === 'tls-alpn-01') {
      const [key, alpnCert] = await acmeClient().crypto.createAlpnCertificate(
        authz,
        keyAuthorization,
      )
      await challenges.putTlsAlpn01(name, { cert: alpnCert.toString(), key: key.toString() })
    } else await challenges.putHttp01(challenge.token, keyAuthorization)
    try {
      await client.completeChallenge(challenge)
      await client.waitForValidStatus(challenge)
      log.info('acme challenge valid', { certificate: cert.id, name, type })
    } finally {
      if (type === 'tls-alpn-01') await challenges.deleteTlsAlpn01(name)
      else await challenges.deleteHttp01(challenge.token)
    }
  }
  const [key, csr] = await acmeClient().crypto.createCsr(
    { commonName: cert.dnsNames[0]!, altNames: [...cert.dnsNames] },
    await newKey(cert.key),
  )
  if (!(await deps.stillHeld())) throw new Error('lost the order lock before finalizing')
  const finalized = await client.finalizeOrder(order, csr)
  const chain = await client.getCertificate(finalized)
  return { cert: chain, key: key.toString() }
}
