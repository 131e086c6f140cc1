// SNI egress from ServiceEntries alone (GatewayConfig.spec.egress.sniPorts) through the real
// gateway process: clients reach the gateway's TLS port by DNS, the ClientHello's name is checked
// against the registry, and allowed connections are passed through untouched to the address the
// name resolved to (the client sees the real upstream's certificate). Unregistered names, no SNI,
// an IP-literal SNI, an unregistered port and a name resolving to a private address are closed
// with no upstream connection, one access-log line and one metric each; audit mode passes them.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect as netConnect, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { createCa, type Pem } from '../../src/cli/cert-forge.js'
import { startTestDnsServer, type TestDnsServer } from '../support/dns-server.js'
import {
  accessLogLines,
  sampleValue,
  scrapeMetrics,
  startHttpsUpstream,
  tlsGet,
  type HttpsUpstream,
} from './egress-kit.js'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  startGateway,
  type GatewayProcess,
} from './harness/index.js'

interface World {
  dir: string
  ca: Pem
  dns: TestDnsServer
  /** The registered upstream, on 127.0.0.2, which its ServiceEntry lists as an address. */
  secure: HttpsUpstream
  /** Where a name resolving to 127.0.0.1 would be sent: must never see a connection. */
  trap: HttpsUpstream
}

async function startWorld(): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-egress-sni-'))
  const ca = createCa('sni egress test CA')
  const dns = await startTestDnsServer()
  dns.records.set('secure.egress.test', ['127.0.0.2'])
  dns.records.set('portless.egress.test', ['127.0.0.2'])
  dns.records.set('private.egress.test', ['127.0.0.1'])
  dns.records.set('other.egress.test', ['127.0.0.1'])
  const secure = await startHttpsUpstream({
    name: 'secure',
    ca,
    hosts: ['secure.egress.test'],
    host: '127.0.0.2',
  })
  const trap = await startHttpsUpstream({ name: 'trap', ca, hosts: ['private.egress.test'] })
  return { dir, ca, dns, secure, trap }
}

interface SniGateway {
  gw: GatewayProcess
  sniPort: number
  metricsPort: number
  logPath: string
}

async function startSniGateway(w: World, policy: string, label: string): Promise<SniGateway> {
  const [sniPort, readinessPort, metricsPort] = await freePorts(3)
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
          `  egress: {sniPorts: [${sniPort}]}`,
          `  outboundTrafficPolicy: ${policy}`,
          `  dns: {servers: ["${w.dns.address}"]}`,
        ],
      }),
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: secure}
spec:
  hosts: [secure.egress.test]
  addresses: [127.0.0.2]
  ports: [{number: ${sniPort}, name: tls, protocol: TLS, targetPort: ${w.secure.port}}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: private}
spec:
  hosts: [private.egress.test]
  ports: [{number: ${sniPort}, name: tls, protocol: TLS, targetPort: ${w.trap.port}}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: portless}
spec:
  hosts: [portless.egress.test]
  addresses: [127.0.0.2]
  ports: [{number: 8443, name: tls, protocol: TLS, targetPort: ${w.secure.port}}]
  resolution: DNS
`,
    ),
  })
  return { gw, sniPort: sniPort!, metricsPort: metricsPort!, logPath }
}

/** A real Node ClientHello whose server_name is `name`, captured from a TLS client. */
async function captureHello(name: string): Promise<Buffer> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  try {
    const got = new Promise<Buffer>((resolve) => {
      server.once('connection', (s) => {
        s.once('data', (d: Buffer) => {
          resolve(d)
          s.destroy()
        })
      })
    })
    const client = tlsConnect({
      host: '127.0.0.1',
      port: (server.address() as AddressInfo).port,
      servername: name,
    })
    client.on('error', () => undefined)
    const hello = await got
    client.destroy()
    return hello
  } finally {
    server.close()
  }
}

/**
 * A ClientHello naming an IP literal. Node refuses to send one, so a hello for a name of the
 * same length is captured and the name's bytes replaced (lengths stay valid).
 */
async function helloForIp(ip: string): Promise<Buffer> {
  const placeholder = 'x'.repeat(ip.length - 5) + '.test'
  const hello = await captureHello(placeholder)
  const at = hello.indexOf(placeholder, 0, 'latin1')
  assert.ok(at > 0)
  hello.write(ip, at, 'latin1')
  return hello
}

/** Sends raw bytes and reports whether the gateway closed and what, if anything, it answered. */
function sendRaw(port: number, bytes: Buffer): Promise<{ isClosed: boolean; received: number }> {
  return new Promise((resolve) => {
    let received = 0
    const s = netConnect(port, '127.0.0.1', () => s.write(bytes))
    const timer = setTimeout(() => {
      s.destroy()
      resolve({ isClosed: false, received })
    }, 3000)
    s.on('data', (d: Buffer) => (received += d.length))
    s.on('error', () => undefined)
    s.on('close', () => {
      clearTimeout(timer)
      resolve({ isClosed: true, received })
    })
  })
}

function sniLines(g: SniGateway, details: string): Promise<Record<string, unknown>[]> {
  return accessLogLines(g.logPath, (e) => e['response_code_details'] === details)
}

describe('SNI egress from ServiceEntries alone, REGISTRY_ONLY', () => {
  let w: World
  let g: SniGateway
  before(async () => {
    w = await startWorld()
    g = await startSniGateway(w, '{mode: REGISTRY_ONLY}', 'enforce')
  })
  after(async () => {
    await g?.gw.cleanup()
    if (w !== undefined) {
      await Promise.all([w.secure.close(), w.trap.close(), w.dns.close()])
      await rm(w.dir, { recursive: true, force: true })
    }
  })

  test('a registered SNI is passed through: the client sees the upstream certificate', async () => {
    const before = w.secure.connections
    const reply = await tlsGet({
      port: g.sniPort,
      servername: 'secure.egress.test',
      ca: w.ca.cert,
      path: '/zen',
    })
    assert.equal(reply.error, undefined)
    assert.equal(reply.status, 200)
    assert.equal(reply.peerNames, 'DNS:secure.egress.test')
    assert.deepEqual(JSON.parse(reply.body), {
      name: 'secure',
      host: 'secure.egress.test',
      url: '/zen',
    })
    assert.equal(w.secure.connections, before + 1)
    const lines = await sniLines(g, 'egress_allowed')
    assert.equal(lines.length, 1)
    assert.equal(lines[0]!['requested_server_name'], 'secure.egress.test')
    assert.equal(lines[0]!['upstream_host'], `127.0.0.2:${w.secure.port}`)
  })

  const refusals: {
    name: string
    hello: () => Promise<Buffer>
    details: string
    host?: string
  }[] = [
    {
      name: 'an unregistered SNI',
      hello: () => captureHello('other.egress.test'),
      details: 'egress_denied:host_not_registered',
      host: 'other.egress.test',
    },
    {
      name: 'a ClientHello without SNI',
      hello: () => captureHello(''),
      details: 'egress_denied:missing_sni',
    },
    {
      name: 'an IP-literal SNI',
      hello: () => helloForIp('127.0.0.1'),
      details: 'egress_denied:private_address',
      host: '127.0.0.1',
    },
    {
      name: 'a registered name resolving to a private address',
      hello: () => captureHello('private.egress.test'),
      details: 'egress_denied:private_address',
      host: 'private.egress.test',
    },
    {
      name: 'a registered name on a port its ServiceEntry does not list',
      hello: () => captureHello('portless.egress.test'),
      details: 'egress_denied:port_not_registered',
      host: 'portless.egress.test',
    },
  ]

  for (const r of refusals) {
    test(`${r.name} is closed with no upstream connection and one log line`, async () => {
      const hello = await r.hello()
      const before = { secure: w.secure.connections, trap: w.trap.connections }
      const reply = await sendRaw(g.sniPort, hello)
      assert.equal(reply.isClosed, true)
      assert.equal(reply.received, 0, 'no TLS handshake answer')
      assert.deepEqual({ secure: w.secure.connections, trap: w.trap.connections }, before)
      const mine = await accessLogLines(
        g.logPath,
        (e) =>
          e['response_code_details'] === r.details &&
          (r.host === undefined || e['requested_server_name'] === r.host),
      )
      assert.equal(mine.length, 1, JSON.stringify(mine))
      assert.equal(mine[0]!['response_flags'], 'EG')
      assert.equal(mine[0]!['upstream_cluster'], 'BlackHoleCluster')
      assert.equal(mine[0]!['upstream_host'], null)
    })
  }

  test('a client without SNI (curl-like TLS to an IP) gets no handshake', async () => {
    const reply = await tlsGet({ port: g.sniPort, ca: w.ca.cert })
    assert.equal(reply.status, undefined)
    assert.equal(reply.peerNames, undefined)
  })

  test('denials are counted by decision and host', async () => {
    const metrics = await scrapeMetrics(g.metricsPort)
    const denied = sampleValue(metrics, 'portcullis_egress_requests_total', [
      'decision="denied"',
      'host="other.egress.test"',
      `port="${g.sniPort}"`,
    ])
    assert.equal(denied, 1)
    // L4 connections are counted as Istio counts them: TCP metrics, not requests.
    const blackHole = sampleValue(metrics, 'istio_tcp_connections_closed_total', [
      'destination_service="BlackHoleCluster"',
    ])
    assert.ok(blackHole !== undefined && blackHole >= 5, metrics)
  })
})

describe('SNI egress in audit mode', () => {
  let w: World
  let g: SniGateway
  before(async () => {
    w = await startWorld()
    g = await startSniGateway(w, '{mode: REGISTRY_ONLY, enforcement: audit}', 'audit')
  })
  after(async () => {
    await g?.gw.cleanup()
    if (w !== undefined) {
      await Promise.all([w.secure.close(), w.trap.close(), w.dns.close()])
      await rm(w.dir, { recursive: true, force: true })
    }
  })

  test('what enforcement would refuse passes and is recorded as audited', async () => {
    const reply = await tlsGet({
      port: g.sniPort,
      servername: 'private.egress.test',
      ca: w.ca.cert,
    })
    assert.equal(reply.status, 200, reply.error)
    assert.equal(reply.peerNames, 'DNS:private.egress.test')
    assert.equal(w.trap.connections, 1)
    const lines = await sniLines(g, 'egress_audited:private_address')
    assert.equal(lines.length, 1)
    assert.equal(lines[0]!['response_flags'], 'EG')
    const metrics = await scrapeMetrics(g.metricsPort)
    const audited = sampleValue(metrics, 'portcullis_egress_requests_total', [
      'decision="audited"',
      'host="private.egress.test"',
    ])
    assert.equal(audited, 1)
  })

  test('no SNI is closed even in audit mode: there is no destination to pass to', async () => {
    const before = w.trap.connections + w.secure.connections
    const reply = await sendRaw(g.sniPort, await captureHello(''))
    assert.equal(reply.isClosed, true)
    assert.equal(w.trap.connections + w.secure.connections, before)
  })
})
