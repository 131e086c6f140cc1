// GatewayConfig egress.httpPorts through the real process: on a Gateway HTTP port, a Host no
// route serves is decided by the ServiceEntries. A registered host takes its default route to
// the entry (resolved by the test DNS server); an unregistered one gets the egress 502 with no
// upstream connection, an EG access-log line and a BlackHoleCluster metric; audit mode passes it
// and records it.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestDnsServer, type TestDnsServer } from '../support/dns-server.js'
import { accessLogLines, sampleValue, scrapeMetrics } from './egress-kit.js'
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

interface World {
  dir: string
  dns: TestDnsServer
  web: Upstream
  api: Upstream
  other: Upstream
}

interface PortGateway {
  gw: GatewayProcess
  port: number
  metricsPort: number
  logPath: string
}

async function startPortGateway(w: World, policy: string, label: string): Promise<PortGateway> {
  const [port, readinessPort, metricsPort] = await freePorts(3)
  const logPath = join(w.dir, `${label}-access.log`)
  const gw = await startGateway({
    yaml: joinDocs(
      gatewayConfigDoc({
        readinessPort: readinessPort!,
        metricsPort: metricsPort!,
        extraSpec: [
          '  accessLog:',
          '    disabled: false',
          `    path: ${JSON.stringify(logPath)}`,
          '    encoding: JSON',
          `  egress: {httpPorts: [${port}]}`,
          `  outboundTrafficPolicy: ${policy}`,
          `  dns: {servers: ["${w.dns.address}"]}`,
        ],
      }),
      `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  servers:
  - port: {number: ${port}, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web.local]
  gateways: [edge]
  http:
  - route: [{destination: {host: web.local, port: {number: ${w.web.port}}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web}
spec:
  hosts: [web.local]
  ports: [{number: ${w.web.port}, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.egress.test]
  ports: [{number: ${port}, name: http, protocol: HTTP, targetPort: ${w.api.port}}]
  resolution: DNS
`,
    ),
  })
  return { gw, port: port!, metricsPort: metricsPort!, logPath }
}

async function startWorld(): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-egress-ports-'))
  const dns = await startTestDnsServer()
  for (const name of ['api.egress.test', 'other.egress.test']) dns.records.set(name, ['127.0.0.1'])
  const web = await startUpstream({ name: 'web' })
  const api = await startUpstream({ name: 'api' })
  const other = await startUpstream({ name: 'other' })
  return { dir, dns, web, api, other }
}

describe('egress.httpPorts', () => {
  let w: World
  let strict: PortGateway
  let audit: PortGateway
  before(async () => {
    w = await startWorld()
    strict = await startPortGateway(
      w,
      '{mode: REGISTRY_ONLY, allowPrivateAddresses: true}',
      'strict',
    )
    audit = await startPortGateway(
      w,
      '{mode: REGISTRY_ONLY, enforcement: audit, allowPrivateAddresses: true}',
      'audit',
    )
  })
  after(async () => {
    await strict?.gw.cleanup()
    await audit?.gw.cleanup()
    if (w !== undefined) {
      await Promise.all([w.web.close(), w.api.close(), w.other.close(), w.dns.close()])
      await rm(w.dir, { recursive: true, force: true })
    }
  })

  test('Gateway routes still serve their hosts', async () => {
    const res = await request(`http://127.0.0.1:${strict.port}/routed`, {
      headers: { host: 'web.local' },
    })
    assert.equal(res.status, 200, res.text)
    assert.equal(res.headers['x-upstream-name'], 'web')
  })

  test('a registered Host no route serves is forwarded to its ServiceEntry', async () => {
    const res = await request(`http://127.0.0.1:${strict.port}/registered?q=1`, {
      headers: { host: 'api.egress.test' },
    })
    assert.equal(res.status, 200, res.text)
    assert.equal(res.headers['x-upstream-name'], 'api')
    const seen = w.api.requests.at(-1)!
    assert.equal(seen.url, '/registered?q=1')
    assert.equal(seen.headers.host, 'api.egress.test')
  })

  test('an unregistered Host gets the egress 502, no upstream connection, a log line and a metric', async () => {
    const before = w.other.connections
    const res = await request(`http://127.0.0.1:${strict.port}/unregistered`, {
      headers: { host: `other.egress.test:${w.other.port}` },
    })
    assert.equal(res.status, 502)
    assert.equal(res.headers['x-portcullis-egress'], 'denied')
    assert.equal(res.headers['x-portcullis-egress-reason'], 'host_not_registered')
    assert.equal(
      res.text,
      `egress denied: host_not_registered (other.egress.test:${w.other.port})\n`,
    )
    assert.equal(w.other.connections, before)
    const lines = await accessLogLines(strict.logPath, (e) => e['path'] === '/unregistered')
    assert.equal(lines.length, 1)
    assert.equal(lines[0]!['response_code'], 502)
    assert.equal(lines[0]!['response_flags'], 'EG')
    assert.equal(lines[0]!['response_code_details'], 'egress_denied:host_not_registered')
    assert.equal(lines[0]!['upstream_cluster'], 'BlackHoleCluster')
    const metrics = await scrapeMetrics(strict.metricsPort)
    const denied = sampleValue(metrics, 'portcullis_egress_requests_total', [
      'decision="denied"',
      'host="other.egress.test"',
    ])
    assert.ok(denied !== undefined && denied >= 1, 'egress denial counted')
    const blackHole = sampleValue(metrics, 'istio_requests_total', [
      'destination_service="BlackHoleCluster"',
      'response_code="502"',
    ])
    assert.ok(blackHole !== undefined && blackHole >= 1, 'BlackHoleCluster counted')
  })

  test('an unregistered port on a registered host is refused', async () => {
    const res = await request(`http://127.0.0.1:${strict.port}/wrong-port`, {
      headers: { host: `api.egress.test:${w.other.port}` },
    })
    assert.equal(res.status, 502)
    assert.equal(res.headers['x-portcullis-egress-reason'], 'port_not_registered')
  })

  test('audit mode forwards an unregistered Host and records it as audited', async () => {
    const res = await request(`http://127.0.0.1:${audit.port}/audited`, {
      headers: { host: `other.egress.test:${w.other.port}` },
    })
    assert.equal(res.status, 200, res.text)
    assert.equal(res.headers['x-upstream-name'], 'other')
    assert.equal(w.other.requests.at(-1)?.url, '/audited')
    const lines = await accessLogLines(audit.logPath, (e) => e['path'] === '/audited')
    assert.equal(lines.length, 1)
    assert.equal(lines[0]!['response_flags'], 'EG')
    assert.equal(lines[0]!['response_code_details'], 'egress_audited:host_not_registered')
    const metrics = await scrapeMetrics(audit.metricsPort)
    const audited = sampleValue(metrics, 'portcullis_egress_requests_total', [
      'decision="audited"',
      'host="other.egress.test"',
    ])
    assert.ok(audited !== undefined && audited >= 1, 'audited decision counted')
  })
})
