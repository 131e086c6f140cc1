// Egress TLS origination through the real gateway process, as in Istio's egress TLS origination
// task: a client sends plain HTTP for `http://<host>/...` through the outbound proxy listener, the
// host's ServiceEntry registers port 80 (name http, protocol HTTP) with a targetPort, and a
// DestinationRule's portLevelSettings for port 80 originate TLS to the HTTPS upstream on loopback.
// SIMPLE (DNS and STATIC resolution) verifies the upstream with caCertificates and sends the host
// as SNI; MUTUAL presents a client certificate to an upstream that requires one; a CA that did not
// sign the upstream certificate is 503 with flag UF. REGISTRY_ONLY is enforced throughout.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TLSSocket } from 'node:tls'
import { ProxyAgent } from 'undici'
import { createCa, issueCertificate, type Pem } from '../../src/cli/cert-forge.js'
import { startTestDnsServer, type TestDnsServer } from '../support/dns-server.js'
import { accessLogLines } from './egress-kit.js'
import {
  curl,
  freePorts,
  gatewayConfigDoc,
  hasCurl,
  joinDocs,
  request,
  startGateway,
  type GatewayProcess,
} from './harness/index.js'

/** What an HTTPS upstream saw of one request, echoed back as the response body. */
interface Seen {
  sni: string | false | null
  /** Subject CN of the client certificate the gateway presented, if any. */
  client: string | null
  host: string | undefined
  url: string | undefined
}

interface TlsUpstream {
  readonly port: number
  readonly seen: Seen[]
  /** TCP connections accepted so far (handshakes or not). */
  readonly connections: number
  close(): Promise<void>
}

async function startTlsUpstream(opts: { server: Pem; clientCa?: Pem }): Promise<TlsUpstream> {
  const seen: Seen[] = []
  const sockets = new Set<Socket>()
  let connections = 0
  const server: Server = createServer(
    {
      cert: opts.server.cert,
      key: opts.server.key,
      ...(opts.clientCa !== undefined
        ? { ca: opts.clientCa.cert, requestCert: true, rejectUnauthorized: true }
        : {}),
    },
    (req, res) => {
      req.resume()
      const socket = req.socket
      assert.ok(socket instanceof TLSSocket)
      const peer = socket.getPeerCertificate()
      const entry: Seen = {
        sni: socket.servername,
        client: typeof peer.subject?.CN === 'string' ? peer.subject.CN : null,
        host: req.headers.host,
        url: req.url,
      }
      seen.push(entry)
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(entry))
    },
  )
  server.on('connection', (s: Socket) => {
    connections++
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  return {
    port,
    seen,
    get connections() {
      return connections
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      for (const s of sockets) s.destroy()
      await closed
    },
  }
}

/** A host registered on port 80 whose connections go to `targetPort` with `tls` originated. */
function hostDocs(opts: {
  name: string
  host: string
  targetPort: number
  resolution: 'DNS' | 'STATIC'
  tls: string[]
}): string {
  const endpoints = opts.resolution === 'STATIC' ? '\n  endpoints: [{address: 127.0.0.1}]' : ''
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${opts.name}}
spec:
  hosts: [${opts.host}]
  location: MESH_EXTERNAL
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${opts.targetPort}}]
  resolution: ${opts.resolution}${endpoints}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${opts.name}}
spec:
  host: ${opts.host}
  trafficPolicy:
    portLevelSettings:
    - port: {number: 80}
      tls:
${opts.tls.map((l) => `        ${l}`).join('\n')}
`
}

describe('egress TLS origination on the outbound proxy listener (REGISTRY_ONLY)', () => {
  let dir: string | undefined
  let dns: TestDnsServer | undefined
  let simple: TlsUpstream | undefined
  let mutual: TlsUpstream | undefined
  let gw: GatewayProcess | undefined
  let agent: ProxyAgent | undefined
  let proxyPort = 0
  let logPath = ''

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-egress-tls-'))
    logPath = join(dir, 'access.log')
    const ca = createCa('egress upstream CA')
    const otherCa = createCa('some other CA')
    const clientCa = createCa('egress client CA')
    const serverPem = issueCertificate(ca, {
      hosts: ['api.egress.test', 'static.egress.test', 'wrongca.egress.test'],
    })
    const mutualPem = issueCertificate(ca, { hosts: ['mtls.egress.test'] })
    const clientPem = issueCertificate(clientCa, { hosts: ['gateway.egress.test'], client: true })
    dns = await startTestDnsServer()
    for (const name of ['api.egress.test', 'mtls.egress.test', 'wrongca.egress.test']) {
      dns.records.set(name, ['127.0.0.1'])
    }
    simple = await startTlsUpstream({ server: serverPem })
    mutual = await startTlsUpstream({ server: mutualPem, clientCa })
    const [outboundPort, readinessPort] = await freePorts(2)
    proxyPort = outboundPort!
    gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({
          readinessPort: readinessPort!,
          extraSpec: [
            '  accessLog:',
            '    disabled: false',
            `    path: ${JSON.stringify(logPath)}`,
            '    encoding: JSON',
            `  outbound: {port: ${proxyPort}, address: 127.0.0.1}`,
            // The test DNS server answers 127.0.0.1, which the default address check refuses.
            '  outboundTrafficPolicy:',
            '    {mode: REGISTRY_ONLY, enforcement: enforce, allowPrivateAddresses: true}',
            `  dns: {servers: ["${dns.address}"]}`,
          ],
        }),
        hostDocs({
          name: 'api',
          host: 'api.egress.test',
          targetPort: simple.port,
          resolution: 'DNS',
          tls: ['mode: SIMPLE', 'caCertificates: ca.crt'],
        }),
        hostDocs({
          name: 'static',
          host: 'static.egress.test',
          targetPort: simple.port,
          resolution: 'STATIC',
          tls: ['mode: SIMPLE', 'caCertificates: ca.crt'],
        }),
        hostDocs({
          name: 'mtls',
          host: 'mtls.egress.test',
          targetPort: mutual.port,
          resolution: 'DNS',
          tls: [
            'mode: MUTUAL',
            'clientCertificate: client/tls.crt',
            'privateKey: client/tls.key',
            'caCertificates: ca.crt',
          ],
        }),
        hostDocs({
          name: 'wrongca',
          host: 'wrongca.egress.test',
          targetPort: simple.port,
          resolution: 'DNS',
          tls: ['mode: SIMPLE', 'caCertificates: other.crt'],
        }),
      ),
      files: {
        'ca.crt': ca.cert,
        'other.crt': otherCa.cert,
        'client/tls.crt': clientPem.cert,
        'client/tls.key': clientPem.key,
      },
    })
    agent = new ProxyAgent({ uri: `http://127.0.0.1:${proxyPort}`, proxyTunnel: false })
  })

  after(async () => {
    await agent?.close()
    await gw?.cleanup()
    await Promise.all([simple?.close(), mutual?.close(), dns?.close()])
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  const get = (url: string, id: string) =>
    request(url, { dispatcher: agent!, headers: { 'x-request-id': id } })
  const logLine = async (id: string): Promise<Record<string, unknown>> => {
    const lines = await accessLogLines(logPath, (e) => e['request_id'] === id)
    assert.equal(lines.length, 1, `one access-log line for ${id}`)
    return lines[0]!
  }

  test('SIMPLE (DNS): plain HTTP on port 80 reaches the HTTPS upstream with SNI', async () => {
    const res = await get('http://api.egress.test/x?q=1', 'egress-tls-simple')
    assert.equal(res.status, 200, res.text)
    assert.deepEqual(res.json(), {
      sni: 'api.egress.test',
      client: null,
      host: 'api.egress.test',
      url: '/x?q=1',
    })
    const line = await logLine('egress-tls-simple')
    assert.equal(line['response_code'], 200)
    assert.equal(line['response_flags'], '-')
    assert.equal(line['upstream_cluster'], 'outbound|80||api.egress.test')
  })

  test('SIMPLE (STATIC endpoint 127.0.0.1 on the targetPort)', async () => {
    const res = await get('http://static.egress.test/static', 'egress-tls-static')
    assert.equal(res.status, 200, res.text)
    assert.deepEqual(res.json(), {
      sni: 'static.egress.test',
      client: null,
      host: 'static.egress.test',
      url: '/static',
    })
  })

  test('SIMPLE through curl -x', async (t) => {
    if (!hasCurl()) {
      t.skip('curl is not installed')
      return
    }
    const out = await curl([
      '--noproxy',
      '',
      '-x',
      `http://127.0.0.1:${proxyPort}`,
      '-s',
      '-i',
      'http://api.egress.test/curl',
    ])
    assert.equal(out.code, 0, out.stderr)
    assert.match(out.stdout, /^HTTP\/1\.1 200/)
    assert.match(out.stdout, /"sni":"api\.egress\.test"/)
    assert.match(out.stdout, /"url":"\/curl"/)
  })

  test('MUTUAL presents the client certificate to an upstream that requires one', async () => {
    const before = mutual!.seen.length
    const res = await get('http://mtls.egress.test/m', 'egress-tls-mutual')
    assert.equal(res.status, 200, res.text)
    assert.deepEqual(res.json(), {
      sni: 'mtls.egress.test',
      client: 'gateway.egress.test',
      host: 'mtls.egress.test',
      url: '/m',
    })
    assert.equal(mutual!.seen.length, before + 1)
    assert.equal(mutual!.seen.at(-1)!.client, 'gateway.egress.test')
  })

  test('a caCertificates that did not sign the upstream certificate: 503 UF', async () => {
    const requestsBefore = simple!.seen.length
    const connectionsBefore = simple!.connections
    const res = await get('http://wrongca.egress.test/w', 'egress-tls-wrongca')
    assert.equal(res.status, 503)
    assert.match(res.text, /^upstream connect error or disconnect\/reset before headers/)
    // The handshake was attempted and refused: the upstream saw a connection, never a request.
    assert.ok(simple!.connections > connectionsBefore)
    assert.equal(simple!.seen.length, requestsBefore)
    const line = await logLine('egress-tls-wrongca')
    assert.equal(line['response_code'], 503)
    assert.match(String(line['response_flags']), /^UF(,URX)?$/)
    assert.match(
      String(line['upstream_transport_failure_reason']),
      /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/,
    )
  })

  test('enforcement is on: an unregistered host gets the egress 502 and no connection', async () => {
    const connectionsBefore = simple!.connections + mutual!.connections
    const res = await get('http://unknown.egress.test/unregistered', 'egress-tls-unknown')
    assert.equal(res.status, 502)
    assert.equal(res.headers['x-portcullis-egress-reason'], 'host_not_registered')
    // Denial lines carry no request id, so this one is found by its path.
    const lines = await accessLogLines(logPath, (e) => e['path'] === '/unregistered')
    assert.equal(lines.length, 1)
    assert.equal(lines[0]!['response_flags'], 'EG')
    assert.equal(lines[0]!['upstream_cluster'], 'BlackHoleCluster')
    assert.equal(simple!.connections + mutual!.connections, connectionsBefore)
  })
})
