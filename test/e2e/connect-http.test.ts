// HTTP inside CONNECT, as Istio's egress TLS origination task runs it with proxy clients that
// tunnel plain HTTP (`curl -p`, undici's ProxyAgent and EnvHttpProxyAgent send
// `CONNECT edition.cnn.com:80` and then the request). The ServiceEntry port 80 has protocol HTTP,
// so the tunnel's bytes are served by the outbound listener's HTTP pipeline: the mesh
// VirtualService applies, and the DestinationRule originates TLS to the loopback stand-in (its
// certificate from a test CA the DestinationRule trusts) — 200 over TLS, not plaintext to a TLS
// port. A CONNECT to a TLS-protocol port stays a raw tunnel.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { connect as netConnect } from 'node:net'
import { join } from 'node:path'
import { EnvHttpProxyAgent, ProxyAgent, request } from 'undici'
import { createCa } from '../../src/cli/cert-forge.js'
import { startTestDnsServer, type TestDnsServer } from '../support/dns-server.js'
import { accessLogLines, rawConnect, startHttpsUpstream, type HttpsUpstream } from './egress-kit.js'
import {
  curl,
  freePorts,
  gatewayConfigDoc,
  hasCurl,
  joinDocs,
  startGateway,
  type GatewayProcess,
} from './harness/index.js'

describe('HTTP inside CONNECT is served by the HTTP pipeline (egress TLS origination)', () => {
  let dns: TestDnsServer | undefined
  let cnn: HttpsUpstream | undefined
  let gw: GatewayProcess | undefined
  let proxyPort = 0
  let logPath = ''
  let dir = ''

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-connect-http-'))
    logPath = join(dir, 'access.log')
    const ca = createCa('connect-http test CA')
    dns = await startTestDnsServer()
    dns.records.set('edition.cnn.com', ['127.0.0.1'])
    cnn = await startHttpsUpstream({ name: 'cnn', ca, hosts: ['edition.cnn.com'] })
    const [outboundPort, readinessPort] = await freePorts(2)
    proxyPort = outboundPort!
    gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({
          readinessPort: readinessPort!,
          extraSpec: [
            `  accessLog: {disabled: false, path: ${JSON.stringify(logPath)}, encoding: JSON}`,
            `  outbound: {port: ${proxyPort}, address: 127.0.0.1}`,
            '  outboundTrafficPolicy: {mode: REGISTRY_ONLY, allowPrivateAddresses: true}',
            `  dns: {servers: ["${dns.address}"]}`,
          ],
        }),
        `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: edition-cnn-com}
spec:
  hosts: [edition.cnn.com]
  ports:
  - {number: 80, name: http-port, protocol: HTTP, targetPort: ${cnn.port}}
  - {number: ${cnn.port}, name: https-port, protocol: HTTPS}
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edition-cnn-com}
spec:
  hosts: [edition.cnn.com]
  http:
  - headers: {response: {add: {x-mesh-route: edition-cnn-com}}}
    route: [{destination: {host: edition.cnn.com, port: {number: 80}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: edition-cnn-com}
spec:
  host: edition.cnn.com
  trafficPolicy:
    portLevelSettings:
    - port: {number: 80}
      tls: {mode: SIMPLE, caCertificates: ca.crt}
`,
      ),
      files: { 'ca.crt': ca.cert },
    })
  })

  after(async () => {
    await gw?.cleanup()
    await Promise.all([cnn?.close(), dns?.close()])
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })

  test('undici ProxyAgent (tunnelling by default): 200 over originated TLS, the mesh route applied', async () => {
    const agent = new ProxyAgent({ uri: `http://127.0.0.1:${proxyPort}` })
    try {
      for (const path of ['/politics', '/world']) {
        const res = await request(`http://edition.cnn.com${path}`, {
          dispatcher: agent,
          headers: { 'x-request-id': `agent${path}` },
        })
        assert.equal(res.statusCode, 200)
        assert.equal(res.headers['x-mesh-route'], 'edition-cnn-com')
        const body = (await res.body.json()) as { name: string; url: string }
        assert.deepEqual(body, { name: 'cnn', host: 'edition.cnn.com', url: path })
      }
    } finally {
      await agent.close()
    }
    // Each request inside the tunnel is its own line of the request path, routed by the mesh VS.
    const lines = await accessLogLines(logPath, (e) => e['request_id'] === 'agent/world')
    assert.equal(lines.length, 1)
    assert.equal(lines[0]?.['response_code'], 200)
    assert.match(String(lines[0]?.['upstream_cluster']), /edition\.cnn\.com/)
  })

  test('EnvHttpProxyAgent with http_proxy set', async () => {
    const agent = new EnvHttpProxyAgent({ httpProxy: `http://127.0.0.1:${proxyPort}` })
    try {
      const res = await request('http://edition.cnn.com/env', { dispatcher: agent })
      assert.equal(res.statusCode, 200)
      assert.equal(((await res.body.json()) as { url: string }).url, '/env')
    } finally {
      await agent.close()
    }
  })

  test('curl -p -x: CONNECT edition.cnn.com:80, then the request over originated TLS', async (t) => {
    if (!hasCurl()) {
      t.skip('curl is not installed')
      return
    }
    const out = await curl([
      '-sS',
      '-i',
      '-p',
      '-x',
      `http://127.0.0.1:${proxyPort}`,
      'http://edition.cnn.com/politics',
    ])
    assert.equal(out.code, 0, out.stderr)
    assert.match(out.stdout, /HTTP\/1\.1 200 Connection Established/i)
    assert.match(out.stdout, /\r\nHTTP\/1\.1 200 OK\r\n/)
    assert.match(out.stdout, /x-mesh-route: edition-cnn-com/)
    assert.match(out.stdout, /"url":"\/politics"/)
  })

  test('TLS sent through a tunnel to an HTTP port is refused by the HTTP parser (400)', async () => {
    const text = await new Promise<string>((resolve) => {
      let out = ''
      const s = netConnect(proxyPort, '127.0.0.1', () =>
        s.write('CONNECT edition.cnn.com:80 HTTP/1.1\r\nHost: edition.cnn.com:80\r\n\r\n'),
      )
      s.setEncoding('latin1')
      s.on('data', (d: string) => {
        out += d
        // A TLS ClientHello's first bytes, where the tunnel expects an HTTP request.
        if (out.endsWith('\r\n\r\n') && !out.includes(' 400 ')) {
          s.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03]))
        }
      })
      const timer = setTimeout(() => s.destroy(), 3000)
      s.on('close', () => {
        clearTimeout(timer)
        resolve(out)
      })
    })
    assert.match(text, /^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 400 /)
  })

  test('a CONNECT to a port whose protocol is not HTTP stays a raw tunnel', async () => {
    const before = cnn!.connections
    const reply = await rawConnect(proxyPort, `edition.cnn.com:${cnn!.port}`)
    assert.equal(reply.status, 200)
    // The tunnel reached the stand-in itself (no HTTP server answered in between).
    const deadline = Date.now() + 3000
    while (cnn!.connections === before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20))
    }
    assert.ok(cnn!.connections > before)
  })
})
