/**
 * A temporary self-signed certificate for a Certificate's names, written before its first
 * issuance so the TLS listener can start (and answer clients with a handshake a browser warns
 * about) instead of failing. Marked by its issuer so the manager orders a real one at once.
 */
import type Forge from 'node-forge'
import { lazyModule } from '../lib/index.js'

/** Loaded with the first placeholder written, not at start-up (lib/lazy-module.ts). */
const forgeModule = lazyModule<typeof Forge>('node-forge')

export const PLACEHOLDER_ISSUER = 'Portcullis temporary certificate (ACME order pending)'

export function createPlaceholder(dnsNames: readonly string[]): { cert: string; key: string } {
  const forge = forgeModule()
  const keys = forge.pki.rsa.generateKeyPair(2048)
  const cert = forge.pki.createCertificate()
  cert.publicKey = keys.publicKey
  cert.serialNumber = '01'
  const now = Date.now()
  cert.validity.notBefore = new Date(now - 3_600_000)
  cert.validity.notAfter = new Date(now + 7 * 86_400_000)
  const attrs = [{ name: 'commonName', value: PLACEHOLDER_ISSUER }]
  cert.setSubject(attrs)
  cert.setIssuer(attrs)
  cert.setExtensions([
    { name: 'subjectAltName', altNames: dnsNames.map((value) => ({ type: 2, value })) },
  ])
  cert.sign(keys.privateKey, forge.md.sha256.create())
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) }
}
