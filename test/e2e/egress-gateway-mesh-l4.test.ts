// Istio's egress-gateway tasks with two Portcullis instances, the same Istio YAML for both
// (../shared/istio-samples/egress-gateway-tls-passthrough-cnn.yaml and
// egress-wildcard-host-via-egress-gateway.yaml, adapted to loopback: the egress gateway's
// server port is a free port, the egress gateway's Service is a STATIC ServiceEntry, and the
// external hosts resolve to loopback stand-ins through the test DNS server). Each instance is
// told apart only by its GatewayConfig labels, as pods are by theirs:
//  - the client instance (outbound listener, REGISTRY_ONLY) applies the `tls` routes bound to
//    `mesh`: `CONNECT edition.cnn.com:443` and `CONNECT en.wikipedia.org:443` (no ServiceEntry
//    for that name at all) go to the egress gateway, never to the external stand-in;
//  - the egress instance (`istio: egressgateway`) passes them through by SNI to the real host.
// The proof is in the logs: the egress instance writes one line per connection with the SNI,
// and the stand-ins saw connections only from it. An SNI egress port of the client instance
// follows a mesh tls route the same way. An HTTP variant (egress-gateway-http-cnn.yaml)
// runs the `http` routes the same way.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ProxyAgent, request } from 'undici'
import { createCa, type Pem } from '../../src/cli/cert-forge.js'
import { startTestDnsServer, type TestDnsServer } from '../support/dns-server.js'
import {
  accessLogLines,
  rawConnect,
  startHttpsUpstream,
  tlsGet,
  type HttpsUpstream,
} from './egress-kit.js'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  startGateway,
  startUpstream,
  type GatewayProcess,
  type Upstream,
} from './harness/index.js'

const EGRESS_SVC = 'istio-egressgateway.istio-system.svc.cluster.local'

/** The Istio documents both instances load (ports adapted to loopback). */
function istioDocs(p: {
  tlsPort: number
  httpPort: number
  cnn: number
  wiki: number
  http: number
}): string {
  return `apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata: {name: cnn}
spec:
  hosts: [edition.cnn.com]
  ports:
  - {number: 80, name: http-port, protocol: HTTP, targetPort: ${p.http}}
  - {number: 443, name: tls, protocol: TLS, targetPort: ${p.cnn}}
  resolution: DNS
---
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata: {name: www-wikipedia}
spec:
  hosts: [www.wikipedia.org]
  ports: [{number: 443, name: https, protocol: HTTPS, targetPort: ${p.wiki}}]
  resolution: DNS
---
# In a cluster this is the egress gateway's Service; here, the egress instance's ports.
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata: {name: istio-egressgateway}
spec:
  hosts: [${EGRESS_SVC}]
  ports:
  - {number: 443, name: tls, protocol: TLS}
  - {number: 80, name: http, protocol: HTTP}
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {tls: ${p.tlsPort}, http: ${p.httpPort}}}]
---
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata: {name: istio-egressgateway}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: ${p.tlsPort}, name: tls, protocol: TLS}
    hosts: [edition.cnn.com, "*.wikipedia.org"]
    tls: {mode: PASSTHROUGH}
  - port: {number: ${p.httpPort}, name: http, protocol: HTTP}
    hosts: [edition.cnn.com]
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: egressgateway-for-cnn}
spec:
  host: ${EGRESS_SVC}
  subsets: [{name: cnn}, {name: wikipedia}]
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: direct-cnn-through-egress-gateway}
spec:
  hosts: [edition.cnn.com]
  gateways: [mesh, istio-egressgateway]
  http:
  - match: [{gateways: [mesh], port: 80}]
    route:
    - destination: {host: ${EGRESS_SVC}, subset: cnn, port: {number: 80}}
      weight: 100
  - match: [{gateways: [istio-egressgateway], port: ${p.httpPort}}]
    route:
    - destination: {host: edition.cnn.com, port: {number: 80}}
      weight: 100
  tls:
  - match: [{gateways: [mesh], port: 443, sniHosts: [edition.cnn.com]}]
    route:
    - destination: {host: ${EGRESS_SVC}, subset: cnn, port: {number: 443}}
  - match: [{gateways: [istio-egressgateway], port: ${p.tlsPort}, sniHosts: [edition.cnn.com]}]
    route:
    - destination: {host: edition.cnn.com, port: {number: 443}}
      weight: 100
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: direct-wikipedia-through-egress-gateway}
spec:
  hosts: ["*.wikipedia.org"]
  gateways: [mesh, istio-egressgateway]
  tls:
  - match: [{gateways: [mesh], port: 443, sniHosts: ["*.wikipedia.org"]}]
    route:
    - destination: {host: ${EGRESS_SVC}, subset: wikipedia, port: {number: 443}}
      weight: 100
  - match: [{gateways: [istio-egressgateway], port: ${p.tlsPort}, sniHosts: ["*.wikipedia.org"]}]
    route:
    - destination: {host: www.wikipedia.org, port: {number: 443}}
      weight: 100
`
}

/** Client-only: an SNI egress port whose mesh tls route also leads to the egress gateway. */
function sniDocs(sniPort: number): string {
  return `apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: sni-wikipedia-through-egress-gateway}
spec:
  hosts: [sni.wikipedia.org]
  tls:
  - match: [{port: ${sniPort}, sniHosts: [sni.wikipedia.org]}]
    route:
    - destination: {host: ${EGRESS_SVC}, subset: wikipedia, port: {number: 443}}
`
}

describe('egress gateway: a client instance routes mesh tls/http routes through an egress instance', () => {
  let dir = ''
  let ca: Pem | undefined
  let dns: TestDnsServer | undefined
  let cnn: HttpsUpstream | undefined
  let wiki: HttpsUpstream | undefined
  let plain: Upstream | undefined
  let client: GatewayProcess | undefined
  let egress: GatewayProcess | undefined
  let proxyPort = 0
  let tlsPort = 0
  let httpPort = 0
  let sniPort = 0
  let clientLog = ''
  let egressLog = ''

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-egress-gw-'))
    clientLog = join(dir, 'client.log')
    egressLog = join(dir, 'egress.log')
    ca = createCa('egress gateway test CA')
    dns = await startTestDnsServer()
    for (const name of ['edition.cnn.com', 'www.wikipedia.org'])
      dns.records.set(name, ['127.0.0.1'])
    cnn = await startHttpsUpstream({ name: 'cnn', ca, hosts: ['edition.cnn.com'] })
    wiki = await startHttpsUpstream({ name: 'wikipedia', ca, hosts: ['*.wikipedia.org'] })
    plain = await startUpstream({ name: 'cnn-http' })
    const ports = await freePorts(6)
    ;[proxyPort, tlsPort, httpPort, sniPort] = [ports[0]!, ports[1]!, ports[2]!, ports[5]!]
    const docs = istioDocs({ tlsPort, httpPort, cnn: cnn.port, wiki: wiki.port, http: plain.port })
    const spec = (log: string, labels: string, extra: string[]): string[] => [
      `  labels: ${labels}`,
      `  accessLog: {disabled: false, path: ${JSON.stringify(log)}, encoding: JSON}`,
      '  outboundTrafficPolicy: {mode: REGISTRY_ONLY, allowPrivateAddresses: true}',
      `  dns: {servers: ["${dns!.address}"]}`,
      ...extra,
    ]
    egress = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({
          readinessPort: ports[3]!,
          extraSpec: spec(egressLog, '{istio: egressgateway}', []),
        }),
        docs,
      ),
    })
    client = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({
          readinessPort: ports[4]!,
          extraSpec: spec(clientLog, '{app: sleep}', [
            `  outbound: {port: ${proxyPort}, address: 127.0.0.1}`,
            `  egress: {sniPorts: [${sniPort}]}`,
          ]),
        }),
        docs,
        sniDocs(sniPort),
      ),
    })
  })

  after(async () => {
    await Promise.all([client?.cleanup(), egress?.cleanup()])
    await Promise.all([cnn?.close(), wiki?.close(), plain?.close(), dns?.close()])
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })

  test('CONNECT edition.cnn.com:443 goes through the egress instance (TLS passthrough)', async () => {
    const before = cnn!.connections
    const reply = await tlsGet({
      port: proxyPort,
      servername: 'edition.cnn.com',
      ca: ca!.cert,
      path: '/politics',
      viaProxy: { target: 'edition.cnn.com:443' },
    })
    assert.equal(reply.error, undefined)
    assert.equal(reply.status, 200)
    assert.match(reply.body, /"name":"cnn"/)
    assert.equal(cnn!.connections, before + 1)
    // The client instance's tunnel went to the egress instance's port, not to the stand-in.
    const tunnel = await accessLogLines(clientLog, (e) => e['authority'] === 'edition.cnn.com:443')
    assert.equal(tunnel[0]?.['upstream_host'], `127.0.0.1:${tlsPort}`)
    // The egress instance logged the connection, by SNI, to the stand-in.
    const passed = await accessLogLines(
      egressLog,
      (e) => e['requested_server_name'] === 'edition.cnn.com',
    )
    assert.equal(passed.length, 1)
    assert.equal(passed[0]?.['upstream_host'], `127.0.0.1:${cnn!.port}`)
  })

  test('CONNECT en.wikipedia.org:443 (no ServiceEntry for it) follows the wildcard mesh route', async () => {
    const reply = await tlsGet({
      port: proxyPort,
      servername: 'en.wikipedia.org',
      ca: ca!.cert,
      path: '/wiki/Main_Page',
      viaProxy: { target: 'en.wikipedia.org:443' },
    })
    assert.equal(reply.error, undefined)
    assert.equal(reply.status, 200)
    assert.match(reply.body, /"name":"wikipedia"/)
    const passed = await accessLogLines(
      egressLog,
      (e) => e['requested_server_name'] === 'en.wikipedia.org',
    )
    assert.equal(passed[0]?.['upstream_host'], `127.0.0.1:${wiki!.port}`)
    // Other names are still decided by the allowlist alone.
    const refused = await rawConnect(proxyPort, 'de.wikipedia.com:443')
    assert.equal(refused.status, 403)
  })

  test('an SNI egress connection follows its mesh tls route to the egress instance', async () => {
    const reply = await tlsGet({
      port: sniPort,
      servername: 'sni.wikipedia.org',
      ca: ca!.cert,
      path: '/sni',
    })
    assert.equal(reply.error, undefined)
    assert.equal(reply.status, 200)
    assert.match(reply.body, /"name":"wikipedia"/)
    const hop = await accessLogLines(
      clientLog,
      (e) => e['requested_server_name'] === 'sni.wikipedia.org',
    )
    assert.equal(hop[0]?.['upstream_host'], `127.0.0.1:${tlsPort}`)
    const passed = await accessLogLines(
      egressLog,
      (e) => e['requested_server_name'] === 'sni.wikipedia.org',
    )
    assert.equal(passed[0]?.['upstream_host'], `127.0.0.1:${wiki!.port}`)
  })

  test('HTTP egress gateway: http://edition.cnn.com/ through the egress instance', async () => {
    const agent = new ProxyAgent({ uri: `http://127.0.0.1:${proxyPort}`, proxyTunnel: false })
    try {
      const res = await request('http://edition.cnn.com/politics', {
        dispatcher: agent,
        headers: { 'x-request-id': 'http-egress-gw' },
      })
      assert.equal(res.statusCode, 200)
      await res.body.text()
    } finally {
      await agent.close()
    }
    const hop = await accessLogLines(clientLog, (e) => e['request_id'] === 'http-egress-gw')
    assert.equal(hop[0]?.['upstream_host'], `127.0.0.1:${httpPort}`)
    const out = await accessLogLines(egressLog, (e) => e['request_id'] === 'http-egress-gw')
    assert.equal(out[0]?.['upstream_host'], `127.0.0.1:${plain!.port}`)
  })
})
