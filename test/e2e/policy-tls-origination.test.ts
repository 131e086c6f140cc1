// DestinationRule TLS origination through the real gateway process: SIMPLE against an HTTPS
// upstream with its CA, the SNI sent, a wrong CA and a SAN mismatch (503 UF with the reason in
// the access log), subjectAltNames by URI, insecureSkipVerify, MUTUAL from a credentialName, and
// an upstream that requires a client certificate refusing a SIMPLE connection.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:https'
import { TLSSocket } from 'node:tls'
import { createCa, issueCertificate, type Pem } from '../../src/cli/cert-forge.js'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  request,
  type GatewayProcess,
  startGateway,
} from './harness/index.js'

const UPSTREAM_NAME = 'backend.upstream.test'
const UPSTREAM_URI = 'spiffe://upstream.test/ns/default/sa/backend'

interface Seen {
  sni: string | false | null
  client: string | null
}

async function startHttps(opts: {
  server: Pem
  clientCa?: Pem
}): Promise<{ server: Server; port: number }> {
  const server = createServer(
    {
      cert: opts.server.cert,
      key: opts.server.key,
      ...(opts.clientCa !== undefined
        ? { ca: opts.clientCa.cert, requestCert: true, rejectUnauthorized: true }
        : {}),
    },
    (req, res) => {
      const socket = req.socket
      assert.ok(socket instanceof TLSSocket)
      const peer = socket.getPeerCertificate()
      const seen: Seen = {
        sni: socket.servername,
        client: typeof peer.subject?.CN === 'string' ? peer.subject.CN : null,
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(seen))
    },
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  assert.ok(address !== null && typeof address === 'object')
  return { server, port: address.port }
}

interface Case {
  name: string
  port: number
  tls: string[]
}

/** One Gateway server; per case a Host `<name>.test` routed to its own ServiceEntry and rule. */
function docs(gatewayPort: number, cases: Case[]): string {
  const out = [
    `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  servers:
    - port: { number: ${gatewayPort}, name: http, protocol: HTTP }
      hosts: ["*"]`,
  ]
  for (const c of cases) {
    out.push(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${c.name}
spec:
  hosts: [${c.name}.test]
  gateways: [gw]
  http:
    - route:
        - destination: { host: ${c.name}.upstream.test, port: { number: 443 } }`)
    out.push(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${c.name}
spec:
  hosts: [${c.name}.upstream.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
    - { number: 443, name: https, protocol: HTTPS }
  endpoints:
    - address: 127.0.0.1
      ports: { https: ${c.port} }`)
    out.push(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ${c.name}
spec:
  host: ${c.name}.upstream.test
  trafficPolicy:
    tls:
${c.tls.map((l) => `      ${l}`).join('\n')}`)
  }
  return joinDocs(...out)
}

describe('TLS origination (DestinationRule tls)', () => {
  let gw: GatewayProcess | undefined
  const servers: Server[] = []
  let gatewayPort = 0

  before(async () => {
    const ca = createCa('upstream CA')
    const otherCa = createCa('some other CA')
    const clientCa = createCa('client CA')
    const serverPem = issueCertificate(ca, { hosts: [UPSTREAM_NAME], uris: [UPSTREAM_URI] })
    const clientPem = issueCertificate(clientCa, { hosts: ['gateway.client.test'], client: true })
    const plain = await startHttps({ server: serverPem })
    const mutual = await startHttps({ server: serverPem, clientCa })
    servers.push(plain.server, mutual.server)
    const [port, readinessPort] = await freePorts(2)
    gatewayPort = port!
    const sni = `sni: ${UPSTREAM_NAME}`
    const cases: Case[] = [
      { name: 'simple', port: plain.port, tls: ['mode: SIMPLE', 'caCertificates: ca.crt', sni] },
      // No sni: the destination host, which the certificate does not name.
      { name: 'nosni', port: plain.port, tls: ['mode: SIMPLE', 'caCertificates: ca.crt'] },
      {
        name: 'wrongca',
        port: plain.port,
        tls: ['mode: SIMPLE', 'caCertificates: other.crt', sni],
      },
      {
        name: 'sanmiss',
        port: plain.port,
        tls: [
          'mode: SIMPLE',
          'caCertificates: ca.crt',
          sni,
          'subjectAltNames: [other.example.com]',
        ],
      },
      {
        name: 'saneuri',
        port: plain.port,
        tls: [
          'mode: SIMPLE',
          'caCertificates: ca.crt',
          sni,
          `subjectAltNames: ["${UPSTREAM_URI}"]`,
        ],
      },
      {
        name: 'skip',
        port: plain.port,
        tls: ['mode: SIMPLE', 'caCertificates: other.crt', sni, 'insecureSkipVerify: true'],
      },
      {
        name: 'mutual',
        port: mutual.port,
        tls: ['mode: MUTUAL', 'credentialName: upstream-client', sni],
      },
      { name: 'nocert', port: mutual.port, tls: ['mode: SIMPLE', 'caCertificates: ca.crt', sni] },
      { name: 'plaintext', port: plain.port, tls: ['mode: DISABLE'] },
    ]
    gw = await startGateway({
      yaml: joinDocs(gatewayConfigDoc({ readinessPort: readinessPort! }), docs(gatewayPort, cases)),
      files: {
        'ca.crt': ca.cert,
        'other.crt': otherCa.cert,
        'certs/upstream-client/tls.crt': clientPem.cert,
        'certs/upstream-client/tls.key': clientPem.key,
        'certs/upstream-client/ca.crt': ca.cert,
      },
    })
  })

  after(async () => {
    await gw?.cleanup()
    for (const s of servers) s.close()
  })

  const get = (name: string, id: string) =>
    request(`http://127.0.0.1:${gatewayPort}/`, {
      headers: { host: `${name}.test`, 'x-request-id': id },
    })
  const logLine = (id: string) => gw!.waitForLine(new RegExp(`"${id}"`), 5000, { stream: 'stdout' })

  test('SIMPLE verifies the upstream with caCertificates and sends the configured SNI', async () => {
    const res = await get('simple', 'tls-simple')
    assert.equal(res.status, 200)
    assert.deepEqual(res.json(), { sni: UPSTREAM_NAME, client: null })
    assert.match(await logLine('tls-simple'), /" 200 - via_upstream - "-" /)
  })

  test('without sni the destination host is sent (and verified)', async () => {
    const res = await get('nosni', 'tls-nosni')
    assert.equal(res.status, 503)
    assert.match(await logLine('tls-nosni'), /" 503 UF\S* \S+ - "ERR_TLS_CERT_ALTNAME_INVALID" /)
  })

  test('an upstream certificate from another CA is 503 UF with the reason in the access log', async () => {
    const res = await get('wrongca', 'tls-wrongca')
    assert.equal(res.status, 503)
    assert.match(res.text, /^upstream connect error or disconnect\/reset before headers/)
    const line = await logLine('tls-wrongca')
    assert.match(
      line,
      /" 503 UF(,URX)? upstream_reset_before_response_started\{connection_failure\} - "/,
    )
    assert.match(
      line,
      / - "(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)" /,
    )
  })

  test('subjectAltNames that the certificate does not carry: 503 UF', async () => {
    const res = await get('sanmiss', 'tls-sanmiss')
    assert.equal(res.status, 503)
    assert.match(await logLine('tls-sanmiss'), /" 503 UF\S* \S+ - "ERR_TLS_CERT_ALTNAME_INVALID" /)
  })

  test('subjectAltNames match a URI SAN exactly', async () => {
    const res = await get('saneuri', 'tls-saneuri')
    assert.equal(res.status, 200)
  })

  test('insecureSkipVerify accepts a certificate no trusted CA signed', async () => {
    const res = await get('skip', 'tls-skip')
    assert.equal(res.status, 200)
  })

  test('MUTUAL presents the credential client certificate', async () => {
    const res = await get('mutual', 'tls-mutual')
    assert.equal(res.status, 200)
    assert.deepEqual(res.json(), { sni: UPSTREAM_NAME, client: 'gateway.client.test' })
  })

  // Over TLS 1.3 the server checks the client certificate after the client has finished the
  // handshake; its alert arrives as the connection closing before a response (UC).
  test('an upstream requiring a client certificate refuses SIMPLE: 503', async () => {
    const res = await get('nocert', 'tls-nocert')
    assert.equal(res.status, 503)
    assert.match(await logLine('tls-nocert'), /" 503 (UF|UC)\S* /)
  })

  test('DISABLE speaks plaintext (an HTTPS upstream does not answer HTTP)', async () => {
    const res = await get('plaintext', 'tls-plaintext')
    assert.notEqual(res.status, 200)
  })
})
