/**
 * Development CA and certificates for `portcullis certs` (node-forge, RSA 2048, SHA-256). Only
 * for making certificates offline: serving and verifying use node:tls and X509Certificate.
 */
import type Forge from 'node-forge'
import { lazyModule } from '../lib/index.js'

/** Loaded by `portcullis certs`, not by `run` (lib/lazy-module.ts). */
const forgeModule = lazyModule<typeof Forge>('node-forge')

export interface Pem {
  readonly cert: string
  readonly key: string
}

export interface IssueOptions {
  readonly hosts: readonly string[]
  /** A client certificate (extendedKeyUsage clientAuth) instead of a server one. */
  readonly client?: boolean
  /** Extra URI SANs, e.g. SPIFFE identities for subjectAltNames checks. */
  readonly uris?: readonly string[]
  readonly days?: number
  /** Validity start; default now minus one hour (clock skew). */
  readonly notBefore?: Date
}

const DAY_MS = 86_400_000

function serial(): string {
  const forge = forgeModule()
  // A positive DER INTEGER in minimal form: 16 random bytes whose first byte is 0x01–0x7f, so it
  // needs no 00 prefix. (A 00 before a byte below 0x80 is non-minimal DER, which OpenSSL 3
  // refuses to load — half of all certificates with a blindly prefixed 00.)
  const hex = forge.util.bytesToHex(forge.random.getBytesSync(16))
  const first = (Number.parseInt(hex.slice(0, 2), 16) & 0x7f) | 0x01
  return first.toString(16).padStart(2, '0') + hex.slice(2)
}

function validity(cert: Forge.pki.Certificate, notBefore: Date, days: number): void {
  cert.validity.notBefore = notBefore
  cert.validity.notAfter = new Date(notBefore.getTime() + days * DAY_MS)
}

export function createCa(commonName = 'Portcullis development CA', days = 3650): Pem {
  const forge = forgeModule()
  const keys = forge.pki.rsa.generateKeyPair(2048)
  const cert = forge.pki.createCertificate()
  cert.publicKey = keys.publicKey
  cert.serialNumber = serial()
  validity(cert, new Date(Date.now() - 3_600_000), days)
  const attrs = [{ name: 'commonName', value: commonName }]
  cert.setSubject(attrs)
  cert.setIssuer(attrs)
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ])
  cert.sign(keys.privateKey, forge.md.sha256.create())
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) }
}

const IP = /^[0-9.]+$|:/

export function issueCertificate(ca: Pem, opts: IssueOptions): Pem {
  const forge = forgeModule()
  const caCert = forge.pki.certificateFromPem(ca.cert)
  const caKey = forge.pki.privateKeyFromPem(ca.key)
  const keys = forge.pki.rsa.generateKeyPair(2048)
  const cert = forge.pki.createCertificate()
  cert.publicKey = keys.publicKey
  cert.serialNumber = serial()
  validity(cert, opts.notBefore ?? new Date(Date.now() - 3_600_000), opts.days ?? 90)
  cert.setSubject([{ name: 'commonName', value: opts.hosts[0] ?? opts.uris?.[0] ?? 'client' }])
  cert.setIssuer(caCert.subject.attributes)
  const altNames = [
    ...opts.hosts.map((h) => (IP.test(h) ? { type: 7, ip: h } : { type: 2, value: h })),
    ...(opts.uris ?? []).map((u) => ({ type: 6, value: u })),
  ]
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    opts.client === true
      ? { name: 'extKeyUsage', clientAuth: true }
      : { name: 'extKeyUsage', serverAuth: true },
    ...(altNames.length > 0 ? [{ name: 'subjectAltName', altNames }] : []),
    {
      name: 'authorityKeyIdentifier',
      keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes(),
    },
  ])
  cert.sign(caKey, forge.md.sha256.create())
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) }
}

/**
 * A CRL signed by `ca` listing `revokedSerials` (hex, as X509Certificate.serialNumber gives
 * them), valid from an hour ago for `days`. node-forge has no CRL writer, so the ASN.1 is built
 * here (RFC 5280 §5.1, v1: no extensions).
 */
export function createCrl(ca: Pem, revokedSerials: readonly string[], days = 30): string {
  const forge = forgeModule()
  const { asn1 } = forge
  const { UNIVERSAL } = asn1.Class
  const caCert = forge.pki.certificateFromPem(ca.cert)
  const caKey = forge.pki.privateKeyFromPem(ca.key)
  const now = Date.now()
  const time = (ms: number): Forge.asn1.Asn1 =>
    asn1.create(UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(new Date(ms)))
  const algorithm = (): Forge.asn1.Asn1 =>
    asn1.create(UNIVERSAL, asn1.Type.SEQUENCE, true, [
      asn1.create(
        UNIVERSAL,
        asn1.Type.OID,
        false,
        asn1.oidToDer('1.2.840.113549.1.1.11').getBytes(), // sha256WithRSAEncryption
      ),
      asn1.create(UNIVERSAL, asn1.Type.NULL, false, ''),
    ])
  const fields = [
    algorithm(),
    forge.pki.distinguishedNameToAsn1(caCert.subject),
    time(now - 3_600_000),
    time(now + days * DAY_MS),
  ]
  if (revokedSerials.length > 0) {
    const entries = revokedSerials.map((hex) =>
      asn1.create(UNIVERSAL, asn1.Type.SEQUENCE, true, [
        asn1.create(
          UNIVERSAL,
          asn1.Type.INTEGER,
          false,
          forge.util.hexToBytes(positiveIntegerHex(hex)),
        ),
        time(now - 60_000),
      ]),
    )
    fields.push(asn1.create(UNIVERSAL, asn1.Type.SEQUENCE, true, entries))
  }
  const tbs = asn1.create(UNIVERSAL, asn1.Type.SEQUENCE, true, fields)
  const md = forge.md.sha256.create()
  md.update(asn1.toDer(tbs).getBytes())
  const signature = caKey.sign(md)
  const crl = asn1.create(UNIVERSAL, asn1.Type.SEQUENCE, true, [
    tbs,
    algorithm(),
    asn1.create(UNIVERSAL, asn1.Type.BITSTRING, false, `\0${signature}`),
  ])
  const body = forge.util.encode64(asn1.toDer(crl).getBytes(), 64)
  return `-----BEGIN X509 CRL-----\n${body}\n-----END X509 CRL-----\n`
}

/** DER INTEGER content for a serial: even length, and a 00 in front when the top bit is set. */
function positiveIntegerHex(hex: string): string {
  const even = hex.length % 2 === 1 ? `0${hex}` : hex
  return Number.parseInt(even.slice(0, 1), 16) >= 8 ? `00${even}` : even
}
