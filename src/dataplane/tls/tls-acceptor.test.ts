import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:tls'
import type * as ir from '../../ir/index.js'
import { silentLogger } from '../../lib/logger.js'
import type { AcceptedConnection } from '../listeners/index.js'
import { connectionPeekReason, decidePlan } from './peek-decision.js'
import { createTlsAcceptor } from './tls-acceptor.js'
import { loadTlsPlan, type TlsPlan } from './tls-plan.js'

/** The transport under a TLS socket: TCP on the native path, JSStream on the replay path. */
function transportOf(socket: object): string | undefined {
  const ssl = (socket as { ssl?: { _parent?: object } }).ssl
  return ssl?._parent?.constructor.name
}

const dir = mkdtempSync(join(tmpdir(), 'portcullis-acceptor-'))

/** A self-signed P-256 certificate for `host` (the client does not verify; it reads the CN). */
function certificate(host: string): ir.CertificateFiles {
  const certFile = join(dir, `${host}.crt`)
  const keyFile = join(dir, `${host}.key`)
  execFileSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '1',
    '-subj',
    `/CN=${host}`,
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ])
  return { certFile, keyFile }
}

function simple(cert: ir.CertificateFiles): ir.ServerTlsSettings {
  return {
    mode: 'SIMPLE',
    certificates: [cert],
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    cipherSuites: ['ECDHE-ECDSA-AES128-GCM-SHA256'],
  }
}

// The acceptor hands HTTP chains' sockets to `deliver` without reading the route table.
const HTTP: ir.ChainService = { kind: 'http', routeTable: {} as ir.RouteTable }

function chain(
  name: string,
  hosts: string[],
  tls: ir.ServerTlsSettings | undefined,
): ir.FilterChain {
  return {
    kind: 'tls',
    name,
    sniHosts: hosts,
    tls,
    service: tls === undefined ? { kind: 'passthrough', routes: [] } : HTTP,
  }
}

function listener(chains: ir.FilterChain[]): ir.Listener {
  return { id: '127.0.0.1:0', address: '127.0.0.1', port: 0, transport: 'tls', servers: [], chains }
}

interface Served {
  readonly transport: string | undefined
  readonly peerCn: string | undefined
}

/** Accepts one connection with the acceptor for `plan`, connects with `servername`. */
async function serveOnce(plan: TlsPlan, servername: string | undefined): Promise<Served> {
  const accept = createTlsAcceptor(
    { log: silentLogger, pickEndpoint: () => undefined },
    () => plan,
    'test',
  )
  let server: Server | undefined
  try {
    // Read at delivery: a destroyed TLS socket no longer has its handle.
    const delivered = new Promise<string | undefined>((resolve) => {
      server = createServer((socket: Socket) => {
        accept(socket, {}, (conn: AcceptedConnection) => resolve(transportOf(conn.socket)))
      })
    })
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
    const port = (server!.address() as AddressInfo).port
    const client = connect({
      port,
      host: '127.0.0.1',
      rejectUnauthorized: false,
      ...(servername !== undefined ? { servername } : {}),
    })
    const outcome = await new Promise<Served>((resolve) => {
      client.once('secureConnect', () => {
        const cn = client.getPeerCertificate().subject?.CN
        resolve({ transport: undefined, peerCn: typeof cn === 'string' ? cn : undefined })
      })
      client.once('error', () => resolve({ transport: undefined, peerCn: undefined }))
      client.once('close', () => resolve({ transport: undefined, peerCn: undefined }))
    })
    if (outcome.peerCn === undefined) {
      client.destroy()
      return outcome
    }
    // The client stays connected until the gateway side is secure and delivered.
    const transport = await Promise.race([
      delivered,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000).unref()),
    ])
    client.destroy()
    return { ...outcome, transport }
  } finally {
    server?.close()
  }
}

describe('TLS acceptor: native TLS unless the ClientHello must be peeked', () => {
  let a: ir.CertificateFiles
  let any: ir.CertificateFiles
  before(() => {
    a = certificate('a.test')
    any = certificate('any.test')
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('SNI picks the chain in SNICallback on the native handle; no SNI gets `*`', async () => {
    const plan = await loadTlsPlan(
      listener([chain('a', ['a.test'], simple(a)), chain('any', ['*'], simple(any))]),
    )
    assert.equal(decidePlan(plan).native !== undefined, true)
    assert.deepEqual(await serveOnce(plan, 'a.test'), { transport: 'TCP', peerCn: 'a.test' })
    assert.deepEqual(await serveOnce(plan, 'other.test'), { transport: 'TCP', peerCn: 'any.test' })
    assert.deepEqual(await serveOnce(plan, undefined), { transport: 'TCP', peerCn: 'any.test' })
  })

  test('without a chain for a ClientHello without SNI, the peek decides (replay path)', async () => {
    const plan = await loadTlsPlan(listener([chain('a', ['a.test'], simple(a))]))
    assert.equal(decidePlan(plan).peek, 'no-default-chain')
    assert.deepEqual(await serveOnce(plan, 'a.test'), { transport: 'JSStream', peerCn: 'a.test' })
    // An SNI no chain covers is closed before any certificate is sent.
    assert.equal((await serveOnce(plan, 'other.test')).peerCn, undefined)
  })

  test('PASSTHROUGH and chains that differ in client certificates need the peek', async () => {
    const passthrough = await loadTlsPlan(
      listener([chain('p', ['p.test'], undefined), chain('any', ['*'], simple(any))]),
    )
    assert.equal(decidePlan(passthrough).peek, 'passthrough')
    const mutual: ir.ServerTlsSettings = {
      ...simple(a),
      mode: 'MUTUAL',
      client: {
        required: true,
        caFile: any.certFile,
        subjectAltNames: [],
        spkiSha256: [],
        certSha256: [],
      },
    }
    const mixed = await loadTlsPlan(
      listener([chain('a', ['a.test'], mutual), chain('any', ['*'], simple(any))]),
    )
    assert.equal(decidePlan(mixed).peek, 'per-chain-options')
  })

  test('a socket something already read from (a PROXY header) is replayed', () => {
    assert.equal(connectionPeekReason({ bytesRead: 0, readableLength: 0 }), undefined)
    assert.equal(connectionPeekReason({ bytesRead: 28, readableLength: 0 }), 'socket-read')
    assert.equal(connectionPeekReason({ bytesRead: 0, readableLength: 5 }), 'socket-read')
  })
})
