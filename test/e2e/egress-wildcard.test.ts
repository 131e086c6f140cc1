// Wildcard ServiceEntry hosts are resolved per request to the requested name: under
// *.example.test, a.example.test and b.example.test each reach the upstream bound at their own
// address, over plain HTTP through the proxy and through CONNECT. A STATIC-only host is tunnelled
// to its endpoint, not to whatever DNS says about its name.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { ProxyAgent } from 'undici'
import { createCa, type Pem } from '../../src/cli/cert-forge.js'
import { startTestDnsServer, type TestDnsServer } from '../support/dns-server.js'
import { rawConnect, startHttpsUpstream, tlsGet, type HttpsUpstream } from './egress-kit.js'
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

describe('wildcard and STATIC egress destinations', () => {
  let ca: Pem
  let dns: TestDnsServer
  let httpA: Upstream
  let httpB: Upstream
  let tlsA: HttpsUpstream
  let tlsB: HttpsUpstream
  let fixed: HttpsUpstream
  let decoy: HttpsUpstream
  let gw: GatewayProcess
  let agent: ProxyAgent
  let proxyPort: number

  before(async () => {
    ca = createCa('egress wildcard CA')
    dns = await startTestDnsServer()
    dns.records.set('a.example.test', ['127.0.0.2'])
    dns.records.set('b.example.test', ['127.0.0.3'])
    // DNS points the STATIC host's name somewhere else; its endpoint must win.
    dns.records.set('fixed.static.test', ['127.0.0.1'])
    httpA = await startUpstream({ name: 'http-a', host: '127.0.0.2' })
    httpB = await startUpstream({ name: 'http-b', host: '127.0.0.3' })
    tlsA = await startHttpsUpstream({
      name: 'tls-a',
      ca,
      hosts: ['a.example.test'],
      host: '127.0.0.2',
    })
    tlsB = await startHttpsUpstream({
      name: 'tls-b',
      ca,
      hosts: ['b.example.test'],
      host: '127.0.0.3',
    })
    fixed = await startHttpsUpstream({
      name: 'fixed',
      ca,
      hosts: ['fixed.static.test'],
      host: '127.0.0.4',
    })
    decoy = await startHttpsUpstream({ name: 'decoy', ca, hosts: ['fixed.static.test'] })
    let readinessPort: number
    ;[proxyPort, readinessPort] = (await freePorts(2)) as [number, number]
    gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({
          readinessPort,
          accessLog: false,
          extraSpec: [
            `  outbound: {port: ${proxyPort}, address: 127.0.0.1}`,
            '  outboundTrafficPolicy: {mode: REGISTRY_ONLY, allowPrivateAddresses: true}',
            `  dns: {servers: ["${dns.address}"]}`,
          ],
        }),
        `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: example-wildcard}
spec:
  hosts: ["*.example.test"]
  ports:
  - {number: ${httpA.port}, name: http-a, protocol: HTTP}
  - {number: ${httpB.port}, name: http-b, protocol: HTTP}
  - {number: ${tlsA.port}, name: tls-a, protocol: TLS}
  - {number: ${tlsB.port}, name: tls-b, protocol: TLS}
  resolution: DYNAMIC_DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: fixed}
spec:
  hosts: [fixed.static.test]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.4, ports: {tls: ${fixed.port}}}]
`,
      ),
    })
    agent = new ProxyAgent({ uri: `http://127.0.0.1:${proxyPort}`, proxyTunnel: false })
  })
  after(async () => {
    await agent?.close()
    await gw?.cleanup()
    await Promise.all([httpA, httpB, tlsA, tlsB, fixed, decoy, dns].map((s) => s?.close()))
  })

  test('plain HTTP through the proxy reaches the address each name resolves to', async () => {
    const a = await request(`http://a.example.test:${httpA.port}/a`, { dispatcher: agent })
    assert.equal(a.status, 200, a.text)
    assert.equal(a.headers['x-upstream-name'], 'http-a')
    const b = await request(`http://b.example.test:${httpB.port}/b`, { dispatcher: agent })
    assert.equal(b.status, 200, b.text)
    assert.equal(b.headers['x-upstream-name'], 'http-b')
    assert.deepEqual(
      httpA.requests.map((r) => r.url),
      ['/a'],
    )
    assert.deepEqual(
      httpB.requests.map((r) => r.url),
      ['/b'],
    )
    // A name outside the wildcard is still refused.
    const other = await request(`http://a.other.test:${httpA.port}/`, { dispatcher: agent })
    assert.equal(other.status, 502)
  })

  test('CONNECT reaches the address each name resolves to, with its own certificate', async () => {
    for (const [name, up] of [
      ['a.example.test', tlsA],
      ['b.example.test', tlsB],
    ] as const) {
      const reply = await tlsGet({
        port: proxyPort,
        servername: name,
        ca: ca.cert,
        viaProxy: { target: `${name}:${up.port}` },
      })
      assert.equal(reply.status, 200, `${name}: ${reply.error}`)
      assert.equal(reply.peerNames, `DNS:${name}`)
      assert.match(reply.body, new RegExp(`"name":"${up.name}"`))
    }
    assert.equal(tlsA.connections, 1)
    assert.equal(tlsB.connections, 1)
  })

  test('CONNECT to a STATIC host goes to its endpoint, not to what DNS says', async () => {
    const reply = await tlsGet({
      port: proxyPort,
      servername: 'fixed.static.test',
      ca: ca.cert,
      viaProxy: { target: 'fixed.static.test:443' },
    })
    assert.equal(reply.status, 200, reply.error)
    assert.match(reply.body, /"name":"fixed"/)
    assert.equal(decoy.connections, 0)
    // The entry lists 443 only.
    const refused = await rawConnect(proxyPort, `fixed.static.test:${fixed.port}`)
    assert.equal(refused.status, 403)
  })
})
