/**
 * Server TLS material for one terminating chain, read from the files the snapshot names:
 * SecureContext (certificates, client CA, CRL, Mozilla intermediate parameters) plus the client
 * checks Node does not do itself (subjectAltNames, SPKI and certificate hashes). Built when a
 * snapshot is prepared and again when a watched file changes; never per handshake.
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls'
import type * as ir from '../../ir/index.js'
import { splitCrls } from '../../lib/index.js'

/** Mozilla intermediate groups available with OpenSSL 3.0 (hardening.md §4.1). */
const ECDH_CURVES = 'X25519:prime256v1:secp384r1'

export interface ServerTlsMaterial {
  readonly settings: ir.ServerTlsSettings
  readonly context: SecureContext
  /** Serial numbers of the served certificates (logged on rotation). */
  readonly serials: readonly string[]
  /** Files to watch for rotation. */
  readonly files: readonly string[]
}

async function readOptional(file: string | undefined): Promise<Buffer | undefined> {
  if (file === undefined) return undefined
  try {
    return await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** Throws with a message naming the file when something cannot be read or does not fit. */
export async function loadServerTls(settings: ir.ServerTlsSettings): Promise<ServerTlsMaterial> {
  const certs: Buffer[] = []
  const keys: Buffer[] = []
  const serials: string[] = []
  const files: string[] = []
  for (const c of settings.certificates) {
    const cert = await readNamed(c.certFile)
    const key = await readNamed(c.keyFile)
    let x509: X509Certificate
    try {
      x509 = new X509Certificate(cert)
    } catch {
      throw new Error(`${c.certFile}: not a PEM certificate`)
    }
    let privateKey
    try {
      privateKey = createPrivateKey(key)
    } catch {
      throw new Error(`${c.keyFile}: not a PEM private key`)
    }
    if (!x509.checkPrivateKey(privateKey)) {
      throw new Error(`${c.keyFile} does not match the certificate in ${c.certFile}`)
    }
    certs.push(cert)
    keys.push(key)
    serials.push(x509.serialNumber)
    files.push(c.certFile, c.keyFile)
  }
  const client = settings.client
  let ca: Buffer | undefined
  let crl: Buffer | undefined
  if (client !== undefined) {
    ca = await readNamed(client.caFile)
    files.push(client.caFile)
    if (client.crlFile !== undefined) {
      crl =
        client.crlOptional === true
          ? await readOptional(client.crlFile)
          : await readNamed(client.crlFile)
      files.push(client.crlFile)
    }
  }
  const context = createSecureContext({
    cert: certs,
    key: keys,
    ...(ca !== undefined ? { ca } : {}),
    ...(crl !== undefined ? { crl: splitCrls(crl) } : {}),
    minVersion: settings.minVersion,
    maxVersion: settings.maxVersion,
    // TLS 1.3 suites stay OpenSSL's defaults, which are exactly Mozilla's three.
    ciphers: settings.cipherSuites.join(':'),
    ecdhCurve: ECDH_CURVES,
    // Deliberate deviation from Mozilla (server_preferred_order: false): with only ECDHE-AEAD
    // suites on offer the order is harmless and testssl rates "no cipher order" HIGH (§4.1).
    honorCipherOrder: true,
    sessionIdContext: 'portcullis',
  })
  return { settings, context, serials, files }
}

async function readNamed(file: string): Promise<Buffer> {
  try {
    return await readFile(file)
  } catch (err) {
    throw new Error(`${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
      cause: err,
    })
  }
}

export interface ClientRefusal {
  /** true: close without any HTTP; false: answer requests 403 (a valid certificate, wrong identity). */
  readonly close: boolean
  readonly reason: string
}

/** Why a client connection is refused after the handshake, or undefined when it may proceed. */
export function checkClient(
  socket: TLSSocket,
  client: ir.ClientValidation,
): ClientRefusal | undefined {
  const peer = socket.getPeerX509Certificate()
  if (peer === undefined) {
    return client.required ? { close: true, reason: 'no_client_cert' } : undefined
  }
  if (!socket.authorized) {
    return { close: true, reason: `client_cert_rejected{${String(socket.authorizationError)}}` }
  }
  if (client.spkiSha256.length > 0 || client.certSha256.length > 0) {
    const hash = createHash('sha256').update(peer.raw).digest('hex')
    const spki = createHash('sha256')
      .update(peer.publicKey.export({ type: 'spki', format: 'der' }))
      .digest('base64')
    if (!client.certSha256.includes(hash) && !client.spkiSha256.includes(spki)) {
      return { close: false, reason: 'client_cert_hash_mismatch' }
    }
  }
  if (client.subjectAltNames.length > 0) {
    const sans = parseSans(peer.subjectAltName)
    if (!sans.some((s) => client.subjectAltNames.includes(s))) {
      return { close: false, reason: 'client_cert_san_mismatch' }
    }
  }
  return undefined
}

/** `DNS:a, URI:spiffe://x` → ['a', 'spiffe://x'] (values with commas are quoted by Node). */
function parseSans(text: string | undefined): string[] {
  if (text === undefined) return []
  return text.split(', ').map((e) => {
    const i = e.indexOf(':')
    return i < 0 ? e : e.slice(i + 1)
  })
}

/** This hop's x-forwarded-client-cert description (Envoy's Hash, Subject, URI and DNS details). */
export function forwardedClientCert(socket: TLSSocket): string | undefined {
  const peer = socket.getPeerX509Certificate()
  if (peer === undefined) return undefined
  const hash = createHash('sha256').update(peer.raw).digest('hex')
  // Istio's workload certificates have an empty subject: Node then leaves `subject` undefined.
  const subject = (peer.subject as string | undefined) ?? ''
  // Envoy starts with `By=` for each URI SAN of the certificate this hop served (a mesh
  // identity under ISTIO_MUTUAL), as in Istio's `By=spiffe://…;Hash=…;Subject="";URI=spiffe://…`.
  const by = uriValues(socket.getX509Certificate()?.subjectAltName).map((u) => `By=${u}`)
  const parts = [...by, `Hash=${hash}`, `Subject="${subject.split('\n').reverse().join(',')}"`]
  const text = peer.subjectAltName
  if (text !== undefined) {
    for (const e of text.split(', ')) {
      if (e.startsWith('URI:')) parts.push(`URI=${e.slice(4)}`)
      else if (e.startsWith('DNS:')) parts.push(`DNS=${e.slice(4)}`)
    }
  }
  return parts.join(';')
}

function uriValues(sans: string | undefined): string[] {
  if (sans === undefined) return []
  return sans
    .split(', ')
    .filter((e) => e.startsWith('URI:'))
    .map((e) => e.slice(4))
}
