// Mesh certificates as an Istio CA issues them: a self-signed mesh root, and workload
// certificates whose identity is a SPIFFE URI SAN (critical, no subject), good for both TLS
// client and server use. Keys come from node:crypto (fast); node-forge signs.
import { generateKeyPairSync, X509Certificate } from 'node:crypto'
import forge from 'node-forge'

export interface MeshPem {
  readonly cert: string
  readonly key: string
  /** Upper-case hex, as X509Certificate.serialNumber and the upstream's peer certificate show it. */
  readonly serial: string
}

function keyPair(): {
  publicKey: forge.pki.PublicKey
  privateKey: forge.pki.rsa.PrivateKey
  pem: string
} {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  return {
    publicKey: forge.pki.publicKeyFromPem(
      publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    ),
    privateKey: forge.pki.privateKeyFromPem(pem),
    pem,
  }
}

function randomSerial(): string {
  const hex = forge.util.bytesToHex(forge.random.getBytesSync(16))
  const first = (Number.parseInt(hex.slice(0, 2), 16) & 0x7f) | 0x10
  return first.toString(16) + hex.slice(2)
}

function finish(
  cert: forge.pki.Certificate,
  signer: forge.pki.rsa.PrivateKey,
  key: string,
): MeshPem {
  cert.sign(signer, forge.md.sha256.create())
  const pem = forge.pki.certificateToPem(cert)
  return { cert: pem, key, serial: new X509Certificate(pem).serialNumber }
}

function validFor(cert: forge.pki.Certificate, days: number): void {
  cert.validity.notBefore = new Date(Date.now() - 3_600_000)
  cert.validity.notAfter = new Date(Date.now() + days * 86_400_000)
}

export function createMeshCa(org = 'cluster.local'): MeshPem {
  const keys = keyPair()
  const cert = forge.pki.createCertificate()
  cert.publicKey = keys.publicKey
  cert.serialNumber = randomSerial()
  validFor(cert, 3650)
  const subject = [{ name: 'organizationName', value: org }]
  cert.setSubject(subject)
  cert.setIssuer(subject)
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ])
  return finish(cert, keys.privateKey, keys.pem)
}

/** A workload certificate for `spiffe` (e.g. spiffe://cluster.local/ns/default/sa/sleep). */
export function issueWorkloadCert(ca: MeshPem, spiffe: string): MeshPem {
  const caCert = forge.pki.certificateFromPem(ca.cert)
  const caKey = forge.pki.privateKeyFromPem(ca.key)
  const keys = keyPair()
  const cert = forge.pki.createCertificate()
  cert.publicKey = keys.publicKey
  cert.serialNumber = randomSerial()
  validFor(cert, 1)
  cert.setSubject([])
  cert.setIssuer(caCert.subject.attributes)
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 6, value: spiffe }], critical: true },
    {
      name: 'authorityKeyIdentifier',
      keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes(),
    },
  ])
  return finish(cert, caKey, keys.pem)
}

/** The three files of Istio's file-mounted workload certificates, under `dir/`. */
export function meshFiles(dir: string, ca: MeshPem, workload: MeshPem): Record<string, string> {
  return {
    [`${dir}/cert-chain.pem`]: workload.cert,
    [`${dir}/key.pem`]: workload.key,
    [`${dir}/root-cert.pem`]: ca.cert,
  }
}
