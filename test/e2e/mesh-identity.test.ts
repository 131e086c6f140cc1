// ISTIO_MUTUAL with GatewayConfig spec.meshIdentity, through the real gateway process and real
// TLS: the gateway originates mTLS to a stand-in for a STRICT-mTLS sidecar (an HTTPS server that
// requires a client certificate from the mesh root and presents a SPIFFE workload certificate),
// with Istio's SNI and ALPN; a peer outside the trust domain or outside subjectAltNames is 503 UF;
// a Gateway ISTIO_MUTUAL server takes a mesh client certificate from curl (XFCC as Istio sets it)
// and refuses another CA's, logged and counted; and rewriting the identity files makes the next
// upstream connection present the new certificate, without a restart.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createSecureServer, type Http2SecureServer } from 'node:http2'
import { createServer, type Server } from 'node:https'
import { connect, TLSSocket } from 'node:tls'
import { join } from 'node:path'
import { metricSum } from './harness/edge-gateway.js'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  request,
  startGateway,
  startUpstream,
  type GatewayProcess,
  type Upstream,
} from './harness/index.js'
import { createMeshCa, issueWorkloadCert, meshFiles, type MeshPem } from './mesh-identity-kit.js'

const GATEWAY_ID = 'spiffe://cluster.local/ns/istio-system/sa/portcullis'
const BACKEND_ID = 'spiffe://cluster.local/ns/default/sa/backend'
const FAILURES = 'portcullis_downstream_tls_handshake_failures_total'

/** What the stand-in sidecar saw of the gateway's connection. */
interface Seen {
  sni: string | false | null
  offered: string[]
  alpn: string | false | null
  peerSerial: string | null
  peerUri: string | null
}

/** Envoy's inbound mTLS chain offers these, in this order of preference. */
const INBOUND_ALPN = ['istio-peer-exchange', 'h2', 'http/1.1']

async function startSidecar(
  ca: MeshPem,
  workload: MeshPem,
): Promise<{ server: Server; port: number }> {
  let offered: string[] = []
  const server = createServer(
    {
      cert: workload.cert,
      key: workload.key,
      ca: ca.cert,
      requestCert: true,
      rejectUnauthorized: true,
      ALPNCallback: ({ protocols }) => {
        offered = protocols
        return INBOUND_ALPN.find((p) => protocols.includes(p))
      },
    },
    (req, res) => {
      const socket = req.socket
      assert.ok(socket instanceof TLSSocket)
      const peer = socket.getPeerCertificate()
      const uri = /URI:([^,]+)/.exec(peer.subjectaltname ?? '')
      const seen: Seen = {
        sni: socket.servername,
        offered,
        alpn: socket.alpnProtocol,
        peerSerial: peer.serialNumber ?? null,
        peerUri: uri !== null ? uri[1]! : null,
      }
      // A new connection per request, so each request shows the identity in effect.
      res
        .writeHead(200, { 'content-type': 'application/json', connection: 'close' })
        .end(JSON.stringify(seen))
    },
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  assert.ok(address !== null && typeof address === 'object')
  return { server, port: address.port }
}

/** An HTTP/2-only stand-in (a sidecar in front of a gRPC or h2 service). */
async function startH2Sidecar(
  ca: MeshPem,
  workload: MeshPem,
): Promise<{ server: Http2SecureServer; port: number }> {
  const server = createSecureServer(
    {
      cert: workload.cert,
      key: workload.key,
      ca: ca.cert,
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      const socket = req.socket as TLSSocket
      const peer = socket.getPeerCertificate()
      const uri = /URI:([^,]+)/.exec(peer.subjectaltname ?? '')
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          sni: socket.servername,
          alpn: socket.alpnProtocol,
          version: req.httpVersion,
          peerUri: uri !== null ? uri[1]! : null,
        }),
      )
    },
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  assert.ok(address !== null && typeof address === 'object')
  return { server, port: address.port }
}

interface Case {
  name: string
  /** The ServiceEntry port protocol (default HTTP). */
  protocol?: string
  port: number
  /** DestinationRule spec lines after `host:`. */
  rule: string[]
  subset?: string
}

function meshDocs(httpPort: number, meshPort: number, echoPort: number, cases: Case[]): string {
  const out = [
    `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw }
spec:
  servers:
    - port: { number: ${httpPort}, name: http, protocol: HTTP }
      hosts: ["*"]
    - port: { number: ${meshPort}, name: https-mesh, protocol: HTTPS }
      hosts: [mesh.test]
      tls: { mode: ISTIO_MUTUAL }`,
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: mesh-in }
spec:
  hosts: [mesh.test]
  gateways: [gw]
  http:
    - route: [{ destination: { host: echo.test } }]`,
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: echo }
spec:
  hosts: [echo.test]
  ports: [{ number: ${echoPort}, name: http, protocol: HTTP }]
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1 }]`,
  ]
  for (const c of cases) {
    out.push(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${c.name} }
spec:
  hosts: [${c.name}.test]
  gateways: [gw]
  http:
    - route:
        - destination:
            host: ${c.name}.mesh.test
            port: { number: 443 }${c.subset !== undefined ? `\n            subset: ${c.subset}` : ''}`)
    out.push(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${c.name} }
spec:
  hosts: [${c.name}.mesh.test]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
    - { number: 443, name: http, protocol: ${c.protocol ?? 'HTTP'} }
  endpoints:
    - address: 127.0.0.1
      ports: { http: ${c.port} }
      labels: { version: v1 }`)
    out.push(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${c.name} }
spec:
  host: ${c.name}.mesh.test
${c.rule.map((l) => `  ${l}`).join('\n')}`)
  }
  return joinDocs(...out)
}

function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '10', ...args], (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
      resolve({ code, stdout, stderr })
    })
  })
}

describe('mesh identity: ISTIO_MUTUAL outside a mesh', () => {
  let gw: GatewayProcess
  let echo: Upstream
  const servers: Server[] = []
  let h2Server: Http2SecureServer | undefined
  let httpPort = 0
  let meshPort = 0
  let metricsPort = 0
  let meshCa: MeshPem
  let otherCa: MeshPem
  let gatewayCert: MeshPem

  before(async () => {
    meshCa = createMeshCa()
    otherCa = createMeshCa('other.mesh')
    gatewayCert = issueWorkloadCert(meshCa, GATEWAY_ID)
    const backend = await startSidecar(meshCa, issueWorkloadCert(meshCa, BACKEND_ID))
    const foreign = await startSidecar(
      meshCa,
      issueWorkloadCert(meshCa, 'spiffe://other.domain/ns/default/sa/backend'),
    )
    const h2 = await startH2Sidecar(meshCa, issueWorkloadCert(meshCa, BACKEND_ID))
    servers.push(backend.server, foreign.server)
    h2Server = h2.server
    echo = await startUpstream({ name: 'echo' })
    const [p1, p2, readiness, metrics] = await freePorts(4)
    httpPort = p1!
    meshPort = p2!
    metricsPort = metrics!
    const mutual = ['trafficPolicy:', '  tls: { mode: ISTIO_MUTUAL }']
    const cases: Case[] = [
      { name: 'good', port: backend.port, rule: mutual },
      { name: 'grpc', port: h2.port, rule: mutual, protocol: 'HTTP2' },
      { name: 'wrongtd', port: foreign.port, rule: mutual },
      {
        name: 'sanmiss',
        port: backend.port,
        rule: [
          'trafficPolicy:',
          '  tls:',
          '    mode: ISTIO_MUTUAL',
          '    subjectAltNames: [spiffe://cluster.local/ns/default/sa/someone-else]',
        ],
      },
      {
        name: 'sanok',
        port: backend.port,
        rule: [
          'trafficPolicy:',
          '  tls:',
          '    mode: ISTIO_MUTUAL',
          `    subjectAltNames: ["${BACKEND_ID}"]`,
        ],
      },
      {
        name: 'subset',
        port: backend.port,
        subset: 'v1',
        rule: [
          'subsets:',
          '  - name: v1',
          '    labels: { version: v1 }',
          '    trafficPolicy:',
          '      portLevelSettings:',
          '        - port: { number: 443 }',
          '          tls: { mode: ISTIO_MUTUAL }',
        ],
      },
    ]
    gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({
          readinessPort: readiness!,
          metricsPort,
          extraSpec: [
            '  meshIdentity:',
            '    certChain: mesh/cert-chain.pem',
            '    privateKey: mesh/key.pem',
            '    rootCert: mesh/root-cert.pem',
          ],
        }),
        meshDocs(httpPort, meshPort, echo.port, cases),
      ),
      files: meshFiles('mesh', meshCa, gatewayCert),
    })
  })

  after(async () => {
    await gw?.cleanup()
    await echo?.close()
    for (const s of servers) s.close()
    h2Server?.close()
  })

  const get = (name: string, id: string) =>
    request(`http://127.0.0.1:${httpPort}/`, {
      headers: { host: `${name}.test`, 'x-request-id': id },
    })
  const logLine = (id: string) => gw.waitForLine(new RegExp(`"${id}"`), 5000, { stream: 'stdout' })

  test('originates mTLS with the mesh certificate, Istio SNI and ALPN: 200', async () => {
    const res = await get('good', 'mesh-good')
    assert.equal(res.status, 200, res.text)
    const seen = res.json<Seen>()
    assert.equal(seen.peerUri, GATEWAY_ID)
    assert.equal(seen.peerSerial, gatewayCert.serial)
    assert.equal(seen.sni, 'outbound_.443_._.good.mesh.test')
    assert.deepEqual(seen.offered, ['istio-http/1.1', 'istio', 'http/1.1'])
    assert.equal(seen.alpn, 'http/1.1')
  })

  test('an HTTP/2 cluster negotiates h2 with the mesh identity', async () => {
    const res = await get('grpc', 'mesh-h2')
    assert.equal(res.status, 200, res.text)
    assert.deepEqual(res.json(), {
      sni: 'outbound_.443_._.grpc.mesh.test',
      alpn: 'h2',
      version: '2.0',
      peerUri: GATEWAY_ID,
    })
  })

  test('a subset portLevelSettings ISTIO_MUTUAL: SNI names the subset', async () => {
    const res = await get('subset', 'mesh-subset')
    assert.equal(res.status, 200, res.text)
    assert.equal(res.json<Seen>().sni, 'outbound_.443_.v1_.subset.mesh.test')
  })

  test('subjectAltNames naming the peer: 200', async () => {
    const res = await get('sanok', 'mesh-sanok')
    assert.equal(res.status, 200, res.text)
  })

  test('a peer outside the trust domain: 503 UF with the TLS error', async () => {
    const res = await get('wrongtd', 'mesh-wrongtd')
    assert.equal(res.status, 503)
    assert.match(res.text, /^upstream connect error or disconnect\/reset before headers/)
    assert.match(await logLine('mesh-wrongtd'), /" 503 UF\S* \S+ - "ERR_TLS_CERT_ALTNAME_INVALID" /)
  })

  test('a peer not in subjectAltNames: 503 UF', async () => {
    const res = await get('sanmiss', 'mesh-sanmiss')
    assert.equal(res.status, 503)
    assert.match(await logLine('mesh-sanmiss'), /" 503 UF\S* \S+ - "ERR_TLS_CERT_ALTNAME_INVALID" /)
  })

  /** The serial of the certificate the ISTIO_MUTUAL server presents (a mesh client's view). */
  const servedSerial = (): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const s = connect(
        { host: '127.0.0.1', port: meshPort, servername: 'mesh.test', rejectUnauthorized: false },
        () => {
          resolve(s.getPeerCertificate().serialNumber)
          s.destroy()
        },
      )
      s.once('error', reject)
    })

  test('a Gateway ISTIO_MUTUAL server serves the mesh certificate', async () => {
    assert.equal(await servedSerial(), gatewayCert.serial)
  })

  test('curl with a mesh client certificate is served, XFCC names its SPIFFE id', async () => {
    const client = issueWorkloadCert(meshCa, 'spiffe://cluster.local/ns/default/sa/sleep')
    await gw.writeFile('client/tls.crt', client.cert)
    await gw.writeFile('client/tls.key', client.key)
    // -k: curl checks DNS names, and a mesh certificate names a SPIFFE identity only.
    const r = await curl([
      '-k',
      '--cert',
      join(gw.dir, 'client/tls.crt'),
      '--key',
      join(gw.dir, 'client/tls.key'),
      '--resolve',
      `mesh.test:${meshPort}:127.0.0.1`,
      `https://mesh.test:${meshPort}/headers`,
    ])
    assert.equal(r.code, 0, r.stderr)
    const headers = (JSON.parse(r.stdout) as { headers: Record<string, string> }).headers
    const xfcc = headers['x-forwarded-client-cert'] ?? ''
    assert.match(
      xfcc,
      /^By=spiffe:\/\/cluster\.local\/ns\/istio-system\/sa\/portcullis;Hash=[0-9a-f]{64};Subject="";URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep$/,
    )
  })

  test("another CA's client certificate is refused, logged and counted", async () => {
    const stranger = issueWorkloadCert(otherCa, 'spiffe://cluster.local/ns/default/sa/sleep')
    await gw.writeFile('stranger/tls.crt', stranger.cert)
    await gw.writeFile('stranger/tls.key', stranger.key)
    const count = async (): Promise<number> => {
      const res = await request(`http://127.0.0.1:${metricsPort}/stats/prometheus`)
      return metricSum(res.text, FAILURES, {
        listener: `127.0.0.1:${meshPort}`,
        reason: 'unknown_ca',
      })
    }
    const before = await count()
    const mark = gw.mark()
    const r = await curl([
      '-k',
      '--cert',
      join(gw.dir, 'stranger/tls.crt'),
      '--key',
      join(gw.dir, 'stranger/tls.key'),
      '--resolve',
      `mesh.test:${meshPort}:127.0.0.1`,
      `https://mesh.test:${meshPort}/headers`,
    ])
    assert.notEqual(r.code, 0, 'curl got a response')
    assert.doesNotMatch(r.stdout, /headers/)
    await gw.waitForLine(/TLS handshake failed .*reason=unknown_ca\b/, 10_000, { since: mark })
    const deadline = Date.now() + 10_000
    while ((await count()) < before + 1) {
      assert.ok(Date.now() < deadline, `${FAILURES}{reason="unknown_ca"} did not grow`)
      await new Promise((r) => setTimeout(r, 50))
    }
  })

  // Last: it changes the identity the other tests expect.
  test('rewritten identity files: the next upstream connection presents the new certificate', async () => {
    const rotated = issueWorkloadCert(meshCa, GATEWAY_ID)
    assert.notEqual(rotated.serial, gatewayCert.serial)
    const mark = gw.mark()
    await gw.writeFile('mesh/key.pem', rotated.key)
    await gw.writeFile('mesh/cert-chain.pem', rotated.cert)
    const deadline = Date.now() + 10_000
    for (let i = 0; ; i++) {
      const res = await get('good', `mesh-rotated-${i}`)
      assert.equal(res.status, 200, res.text)
      if (res.json<Seen>().peerSerial === rotated.serial) break
      assert.ok(Date.now() < deadline, 'the upstream never saw the rotated certificate')
      await new Promise((r) => setTimeout(r, 50))
    }
    // Read when the first connection after the change was made.
    await gw.waitForLine(/mesh identity rotated/, 10_000, { since: mark })
    // The ISTIO_MUTUAL Gateway server follows the same files (the certificate watcher).
    for (;;) {
      if ((await servedSerial()) === rotated.serial) break
      assert.ok(
        Date.now() < deadline + 10_000,
        'the mesh server never served the rotated certificate',
      )
      await new Promise((r) => setTimeout(r, 50))
    }
  })
})
