// L4 connections are visible as Envoy and Istio make them: one access-log line per connection at
// close (bytes each way as the client's socket counted them, upstream host and cluster, SNI as
// requested_server_name, flags, both downstream addresses) and the four istio_tcp_* counters,
// for a TCP route, TLS PASSTHROUGH and SNI egress, through a real data plane and real clients.
import assert from 'node:assert/strict'
import { createServer as createNetServer, type AddressInfo, type Server } from 'node:net'
import { test, type TestContext } from 'node:test'
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls'
import { connect as netConnect } from 'node:net'
import { createCa, issueCertificate, type Pem } from '../../src/cli/cert-forge.js'
import { startTestDnsServer } from '../support/dns-server.js'
import { closedPort } from '../support/http-harness.js'
import {
  metricValue,
  startRecordedGateway,
  tcpExchange,
  type RecordedGateway,
} from '../support/record-kit.js'

const REPLY = Buffer.alloc(193, 'r')

async function listen(t: TestContext, server: Server, host = '127.0.0.1'): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return (server.address() as AddressInfo).port
}

/** A TLS server that answers every connection's first bytes with REPLY (the client closes). */
async function tlsBackend(t: TestContext, ca: Pem, host: string, name: string): Promise<number> {
  const pem = issueCertificate(ca, { hosts: [name] })
  const server = createTlsServer({ key: pem.key, cert: pem.cert }, (s) => {
    s.once('data', () => s.write(REPLY))
    // The client leaves without a TLS alert; answering its FIN with one would race the close.
    s.on('end', () => s.destroy())
    s.on('error', () => s.destroy())
  })
  return listen(t, server, host)
}

/**
 * TLS through `port` to `servername`: sends `ping`, reads REPLY, then closes without a TLS alert
 * so every byte either side wrote has been read when it closes. Returns the raw socket's counts.
 */
function tlsExchange(
  port: number,
  servername: string,
  ca: Pem,
): Promise<{ body: Buffer; written: number; read: number; localPort: number }> {
  return new Promise((resolve, reject) => {
    const raw = netConnect(port, '127.0.0.1')
    const tls = tlsConnect({ socket: raw, servername, ca: ca.cert })
    const chunks: Buffer[] = []
    let localPort = 0
    raw.once('connect', () => (localPort = raw.localPort ?? 0))
    tls.once('secureConnect', () => tls.write('ping'))
    tls.on('data', (c: Buffer) => {
      chunks.push(c)
      if (Buffer.concat(chunks).length >= REPLY.length) raw.destroy()
    })
    tls.on('error', reject)
    raw.on('close', () =>
      resolve({
        body: Buffer.concat(chunks),
        written: raw.bytesWritten,
        read: raw.bytesRead,
        localPort,
      }),
    )
    raw.setTimeout(10_000, () => raw.destroy(new Error('no close within 10 s')))
  })
}

function gatewayConfig(extra: string): string {
  return `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  bindAddress: 127.0.0.1
${extra}`
}

async function tcpMetric(gw: RecordedGateway, name: string, service: string): Promise<number> {
  const text = await gw.observers.metricsText()
  return (
    metricValue(text, name, [
      'reporter="source"',
      'source_workload="portcullis"',
      'request_protocol="tcp"',
      `destination_service="${service}"`,
    ]) ?? Number.NaN
  )
}

test('a TCP route connection: one line at close with the bytes each way, and the TCP metrics', async (t) => {
  const backend = createNetServer((c) => {
    c.once('data', () => c.end(REPLY))
    c.on('error', () => c.destroy())
  })
  const backendPort = await listen(t, backend)
  const tcpPort = await closedPort()
  const gw = await startRecordedGateway(t, {
    yaml: `${gatewayConfig('')}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  servers:
  - port: {number: ${tcpPort}, name: tcp, protocol: TCP}
    hosts: ['*']
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
  hosts: ['*']
  gateways: [edge]
  tcp:
  - route: [{destination: {host: db.test}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db}
spec:
  hosts: [db.test]
  ports: [{number: ${backendPort}, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
`,
  })
  for (let i = 0; i < 2; i++) {
    const { received, socket } = await tcpExchange(tcpPort, '127.0.0.1', Buffer.from('hello'))
    assert.equal(received.length, 193)
    assert.equal(socket.bytesWritten, 5)
  }
  const lines = await gw.waitForLines(
    (l) => l['upstream_cluster'] === `outbound|${backendPort}||db.test`,
    2,
  )
  assert.equal(lines.length, 2, JSON.stringify(lines))
  const line = lines[0]!
  assert.equal(line['bytes_received'], 5)
  assert.equal(line['bytes_sent'], 193)
  assert.equal(line['upstream_host'], `127.0.0.1:${backendPort}`)
  assert.equal(line['response_flags'], '-')
  assert.equal(line['response_code'], 0)
  assert.equal(line['method'], null)
  assert.equal(line['protocol'], null)
  assert.equal(line['downstream_local_address'], `127.0.0.1:${tcpPort}`)
  assert.match(String(line['downstream_remote_address']), /^127\.0\.0\.1:\d+$/)
  assert.equal(typeof line['duration'], 'number')

  assert.equal(await tcpMetric(gw, 'istio_tcp_connections_opened_total', 'db.test'), 2)
  assert.equal(await tcpMetric(gw, 'istio_tcp_connections_closed_total', 'db.test'), 2)
  assert.equal(await tcpMetric(gw, 'istio_tcp_received_bytes_total', 'db.test'), 10)
  assert.equal(await tcpMetric(gw, 'istio_tcp_sent_bytes_total', 'db.test'), 386)
  // Connections are not requests: istio_requests_total has no series for them.
  const text = await gw.observers.metricsText()
  assert.equal(
    metricValue(text, 'istio_requests_total', ['destination_service="db.test"']),
    undefined,
  )
})

test('a TCP route whose upstream refuses: one UF line', async (t) => {
  const deadPort = await closedPort()
  const tcpPort = await closedPort()
  const gw = await startRecordedGateway(t, {
    yaml: `${gatewayConfig('')}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  servers:
  - port: {number: ${tcpPort}, name: tcp, protocol: TCP}
    hosts: ['*']
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: dead}
spec:
  hosts: ['*']
  gateways: [edge]
  tcp:
  - route: [{destination: {host: dead.test}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: dead}
spec:
  hosts: [dead.test]
  ports: [{number: ${deadPort}, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
`,
  })
  const { received } = await tcpExchange(tcpPort, '127.0.0.1', Buffer.from('hello'))
  assert.equal(received.length, 0)
  const lines = await gw.waitForLines((l) => l['response_flags'] === 'UF')
  assert.equal(lines.length, 1, JSON.stringify(await gw.lines()))
  assert.equal(lines[0]!['upstream_host'], `127.0.0.1:${deadPort}`)
  assert.equal(lines[0]!['response_code_details'], 'upstream_connect_failure')
  assert.equal(await tcpMetric(gw, 'istio_tcp_connections_closed_total', 'dead.test'), 1)
})

test('TLS PASSTHROUGH: one line per connection with the SNI and the wire bytes each way', async (t) => {
  const ca = createCa('records passthrough CA')
  const backendPort = await tlsBackend(t, ca, '127.0.0.1', 'db.example.com')
  const tlsPort = await closedPort()
  const gw = await startRecordedGateway(t, {
    yaml: `${gatewayConfig('')}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  servers:
  - port: {number: ${tlsPort}, name: tls-db, protocol: TLS}
    hosts: [db.example.com]
    tls: {mode: PASSTHROUGH}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
  hosts: [db.example.com]
  gateways: [edge]
  tls:
  - match: [{sniHosts: [db.example.com]}]
    route: [{destination: {host: db.test}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db}
spec:
  hosts: [db.test]
  ports: [{number: ${backendPort}, name: tls, protocol: TLS}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
`,
  })
  const client = await tlsExchange(tlsPort, 'db.example.com', ca)
  assert.deepEqual(client.body, REPLY)
  const lines = await gw.waitForLines((l) => l['requested_server_name'] === 'db.example.com')
  assert.equal(lines.length, 1)
  const line = lines[0]!
  assert.equal(line['bytes_received'], client.written)
  assert.equal(line['bytes_sent'], client.read)
  assert.equal(line['upstream_host'], `127.0.0.1:${backendPort}`)
  assert.equal(line['upstream_cluster'], `outbound|${backendPort}||db.test`)
  assert.equal(line['downstream_remote_address'], `127.0.0.1:${client.localPort}`)
  assert.equal(line['downstream_local_address'], `127.0.0.1:${tlsPort}`)
  assert.equal(await tcpMetric(gw, 'istio_tcp_connections_opened_total', 'db.test'), 1)
  assert.equal(await tcpMetric(gw, 'istio_tcp_received_bytes_total', 'db.test'), client.written)
  assert.equal(await tcpMetric(gw, 'istio_tcp_sent_bytes_total', 'db.test'), client.read)
})

test('SNI egress: an allowed connection and a refused one each get one line and TCP metrics', async (t) => {
  const ca = createCa('records sni egress CA')
  const dns = await startTestDnsServer()
  t.after(() => dns.close())
  dns.records.set('secure.egress.test', ['127.0.0.2'])
  const backendPort = await tlsBackend(t, ca, '127.0.0.2', 'secure.egress.test')
  const sniPort = await closedPort()
  const gw = await startRecordedGateway(t, {
    dnsServers: [dns.address],
    yaml: `${gatewayConfig(`  egress: {sniPorts: [${sniPort}]}
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
  dns: {servers: ["${dns.address}"]}`)}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: secure}
spec:
  hosts: [secure.egress.test]
  addresses: [127.0.0.2]
  ports: [{number: ${sniPort}, name: tls, protocol: TLS, targetPort: ${backendPort}}]
  resolution: DNS
`,
  })
  const client = await tlsExchange(sniPort, 'secure.egress.test', ca)
  assert.deepEqual(client.body, REPLY)
  const allowed = await gw.waitForLines((l) => l['requested_server_name'] === 'secure.egress.test')
  assert.equal(allowed.length, 1)
  assert.equal(allowed[0]!['bytes_received'], client.written)
  assert.equal(allowed[0]!['bytes_sent'], client.read)
  assert.equal(allowed[0]!['upstream_host'], `127.0.0.2:${backendPort}`)
  assert.equal(allowed[0]!['response_code_details'], 'egress_allowed')
  assert.equal(allowed[0]!['downstream_local_address'], `127.0.0.1:${sniPort}`)
  assert.equal(await tcpMetric(gw, 'istio_tcp_sent_bytes_total', 'secure.egress.test'), client.read)

  // Refused before any upstream connection: still one line, flag EG, and a closed connection.
  await tlsExchange(sniPort, 'other.egress.test', ca).catch(() => undefined)
  const refused = await gw.waitForLines((l) => l['requested_server_name'] === 'other.egress.test')
  assert.equal(refused.length, 1)
  assert.equal(refused[0]!['response_flags'], 'EG')
  assert.equal(refused[0]!['response_code_details'], 'egress_denied:host_not_registered')
  assert.equal(refused[0]!['upstream_cluster'], 'BlackHoleCluster')
  const text = await gw.observers.metricsText()
  assert.equal(
    metricValue(text, 'istio_tcp_connections_closed_total', [
      'destination_service="BlackHoleCluster"',
      'response_flags="EG"',
    ]),
    1,
  )
})
