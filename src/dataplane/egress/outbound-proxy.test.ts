import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { ProxyAgent, request } from 'undici'
import { compile } from '../../compile/index.js'
import { loadConfigText } from '../../config/index.js'
import { silentLogger } from '../../lib/index.js'
import type { RequestRecord } from '../../observe/events.js'
import { createHttpHandler } from '../http/handler.js'
import { closedPort, startUpstream } from '../../../test/support/http-harness.js'
import { prepareSnapshot, releaseSnapshot } from '../http/prepare-snapshot.js'
import { createUpstreamRegistry } from '../upstream/registry.js'
import { startTestDnsServer } from '../../../test/support/dns-server.js'
import { createOutboundProxy } from './outbound-proxy.js'

/** Sends a raw CONNECT and returns the response head; `then` writes through the tunnel. */
function rawConnect(port: number, target: string, then?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`)
    })
    let buf = ''
    let sent = false
    s.setEncoding('latin1')
    s.on('data', (d: string) => {
      buf += d
      if (!sent && then !== undefined && buf.startsWith('HTTP/1.1 200')) {
        sent = true
        buf = ''
        s.write(then)
      }
    })
    s.on('end', () => resolve(buf))
    s.on('close', () => resolve(buf))
    s.on('error', reject)
    setTimeout(() => {
      s.destroy()
      resolve(buf)
    }, 3000).unref()
  })
}

test('the outbound proxy admits registered destinations and refuses the rest without connecting', async (t) => {
  const api = await startUpstream(t, 'api')
  const wild = await startUpstream(t, 'wild')
  const dns = await startTestDnsServer()
  t.after(() => dns.close())
  dns.records.set('a.wild.test', ['127.0.0.1'])
  const proxyPort = await closedPort()
  const yaml = `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  outbound: {port: ${proxyPort}, address: 127.0.0.1}
  outboundTrafficPolicy: {mode: REGISTRY_ONLY, allowPrivateAddresses: true}
  dns: {servers: ["${dns.address}"]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.example.test]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: ${api.port}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wild}
spec:
  hosts: ["*.wild.test"]
  ports: [{number: ${wild.port}, name: tls, protocol: TLS}]
  resolution: DYNAMIC_DNS
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api-fault}
spec:
  hosts: [api.example.test]
  http:
  - match: [{uri: {prefix: /fault}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: api.example.test}}]
  - route: [{destination: {host: api.example.test}}]
`
  const loaded = loadConfigText({ 'gateway.yaml': yaml })
  assert.deepEqual(
    loaded.diagnostics.filter((d) => d.severity === 'error'),
    [],
  )
  const { snapshot } = compile(loaded.resources)
  const records: RequestRecord[] = []
  const observer = { onRequestComplete: (r: RequestRecord) => records.push(r) }
  const registry = createUpstreamRegistry({ log: silentLogger })
  const prepared = prepareSnapshot(snapshot, registry)
  const handler = createHttpHandler({ observer, log: silentLogger, upstreams: registry })
  const proxy = createOutboundProxy({ handler, observer, log: silentLogger })
  proxy.activate(await proxy.prepare(prepared))
  t.after(async () => {
    await proxy.close()
    releaseSnapshot(prepared, registry)
    await registry.close()
  })
  const agent = new ProxyAgent({ uri: `http://127.0.0.1:${proxyPort}`, proxyTunnel: false })
  t.after(() => agent.close())

  // Registered host through the request path; the mesh-bound VirtualService's fault applies.
  const ok = await request('http://api.example.test/hello', { dispatcher: agent })
  assert.equal(ok.statusCode, 200)
  assert.equal((JSON.parse(await ok.body.text()) as { url: string }).url, '/hello')
  const fault = await request('http://api.example.test/fault', { dispatcher: agent })
  assert.equal(fault.statusCode, 418)
  await fault.body.text()
  assert.equal(api.seen.length, 1)

  // Unregistered host: 502 naming the reason, nothing sent anywhere.
  const denied = await request('http://evil.test/x', { dispatcher: agent })
  assert.equal(denied.statusCode, 502)
  assert.equal(denied.headers['x-portcullis-egress'], 'denied')
  assert.equal(denied.headers['x-portcullis-egress-reason'], 'host_not_registered')
  assert.match(await denied.body.text(), /egress denied: host_not_registered \(evil\.test:80\)/)
  const rec = records.find((r) => r.authority === 'evil.test')
  assert.equal(rec?.responseFlags, 'EG')
  assert.equal(rec?.upstreamCluster, 'BlackHoleCluster')

  // CONNECT: wildcard host resolved per request through the loopback DNS server.
  const tunneled = await rawConnect(
    proxyPort,
    `a.wild.test:${wild.port}`,
    `GET /through HTTP/1.1\r\nHost: a.wild.test\r\nConnection: close\r\n\r\n`,
  )
  assert.match(tunneled, /^HTTP\/1\.1 200 OK/)
  assert.equal(wild.seen[0]?.url, '/through')

  for (const [target, reason] of [
    ['evil.test:443', 'host_not_registered'],
    [`api.example.test:22`, 'port_not_registered'],
    [`93.184.216.34:443`, 'ip_not_registered'],
    [`b.wild.test:${wild.port + 1}`, 'port_not_registered'],
  ] as const) {
    const head = await rawConnect(proxyPort, target)
    assert.match(head, /^HTTP\/1\.1 403 Forbidden/, target)
    assert.match(head, new RegExp(`x-portcullis-egress-reason: ${reason}`), target)
  }
  // A registered wildcard name DNS cannot resolve: 503 with the reason.
  const nx = await rawConnect(proxyPort, `nx.wild.test:${wild.port}`)
  assert.match(nx, /^HTTP\/1\.1 503/)
  assert.match(nx, /dns_resolution_failed/)
  assert.equal(wild.seen.length, 1)
  assert.equal(api.seen.length, 1)

  // Absolute-form targets get the listeners' checks and path normalization (BASE) before the
  // route table or the upstream sees the path.
  const normalized = await rawProxyGet(proxyPort, 'http://api.example.test/x/../%68ello/.')
  assert.match(normalized, /^HTTP\/1\.1 200/)
  assert.equal(api.seen[1]?.url, '/hello/')
  for (const target of ['http://api.example.test/a#b', 'http://api.example.test/a%00']) {
    assert.match(await rawProxyGet(proxyPort, target), /^HTTP\/1\.1 400/, target)
  }
  assert.equal(api.seen.length, 2)
})

/** One absolute-form GET through the proxy as raw bytes (no client tidies the target). */
function rawProxyGet(port: number, target: string): Promise<string> {
  const host = new URL(target).host
  return rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
}

function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(bytes))
    let buf = ''
    s.setEncoding('latin1')
    s.on('data', (d: string) => (buf += d))
    s.on('close', () => resolve(buf))
    s.on('error', reject)
    setTimeout(() => {
      s.destroy()
      resolve(buf)
    }, 5000).unref()
  })
}

test('the outbound listener is a listener of the front door: caps, recorded parser errors', async (t) => {
  const proxyPort = await closedPort()
  const yaml = `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  outbound: {port: ${proxyPort}, address: 127.0.0.1}
  outboundTrafficPolicy: {mode: ALLOW_ANY, allowPrivateAddresses: true}
  downstream: {maxConnectionsPerClient: 1}
`
  const loaded = loadConfigText({ 'gateway.yaml': yaml })
  assert.deepEqual(
    loaded.diagnostics.filter((d) => d.severity === 'error'),
    [],
  )
  const { snapshot } = compile(loaded.resources)
  const records: RequestRecord[] = []
  const observer = { onRequestComplete: (r: RequestRecord) => records.push(r) }
  const refused: string[] = []
  const registry = createUpstreamRegistry({ log: silentLogger })
  const prepared = prepareSnapshot(snapshot, registry)
  const handler = createHttpHandler({ observer, log: silentLogger, upstreams: registry })
  const proxy = createOutboundProxy({
    handler,
    observer,
    log: silentLogger,
    front: { onConnectionRefused: (_listener, reason) => refused.push(reason) },
  })
  proxy.activate(await proxy.prepare(prepared))
  t.after(async () => {
    await proxy.close()
    releaseSnapshot(prepared, registry)
    await registry.close()
  })

  // A header line the parser refuses: the project's 400, in the access log (Node's own
  // clientError reply was in neither the log nor the metrics).
  const bad = await rawExchange(
    proxyPort,
    'GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nbad header\r\n\r\n',
  )
  assert.match(bad, /^HTTP\/1\.1 400/)
  const rec = await waitFor(() => records.find((r) => r.status === 400))
  assert.equal(rec.listener, snapshot.egress?.outbound?.id)

  // downstream.maxConnectionsPerClient holds on the outbound listener too.
  const held = connect(proxyPort, '127.0.0.1')
  t.after(() => held.destroy())
  await new Promise<void>((resolve, reject) => {
    held.once('connect', resolve)
    held.once('error', reject)
  })
  const second = await rawExchange(proxyPort, 'GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n')
  assert.equal(second, '')
  await waitFor(() => refused[0])
})

/** Polls `probe` until it returns a value (bounded: about 5 s). */
async function waitFor<T>(probe: () => T | undefined): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const value = probe()
    if (value !== undefined) return value
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error('condition not reached')
}

test('outbound HTTP is one request path: passthrough forwards get its timeouts, refusals its reply and record', async (t) => {
  // An upstream that accepts and never answers: only the request path's stream idle timeout
  // ends such a request (the proxy's own forwarder waited for ever).
  const silent = createServer(() => undefined)
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  const held = new Set<Socket>()
  silent.on('connection', (s: Socket) => held.add(s))
  t.after(() => {
    for (const s of held) s.destroy()
    silent.close()
  })
  const silentPort = (silent.address() as AddressInfo).port
  const dns = await startTestDnsServer()
  t.after(() => dns.close())
  dns.records.set('a.quiet.test', ['127.0.0.1'])
  const proxyPort = await closedPort()
  const yaml = `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  outbound: {port: ${proxyPort}, address: 127.0.0.1}
  outboundTrafficPolicy: {mode: REGISTRY_ONLY, allowPrivateAddresses: true}
  dns: {servers: ["${dns.address}"]}
  downstream: {streamIdleTimeout: 0.3s}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: quiet}
spec:
  hosts: ["*.quiet.test"]
  ports: [{number: ${silentPort}, name: http, protocol: HTTP}]
  resolution: DYNAMIC_DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.example.test]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
`
  const loaded = loadConfigText({ 'gateway.yaml': yaml })
  const { snapshot } = compile(loaded.resources)
  const records: RequestRecord[] = []
  const observer = { onRequestComplete: (r: RequestRecord) => records.push(r) }
  const registry = createUpstreamRegistry({ log: silentLogger })
  const prepared = prepareSnapshot(snapshot, registry)
  const handler = createHttpHandler({ observer, log: silentLogger, upstreams: registry })
  const proxy = createOutboundProxy({ handler, observer, log: silentLogger })
  proxy.activate(await proxy.prepare(prepared))
  t.after(async () => {
    await proxy.close()
    releaseSnapshot(prepared, registry)
    await registry.close()
  })

  const quiet = await rawExchange(
    proxyPort,
    `GET http://a.quiet.test:${silentPort}/wait HTTP/1.1\r\nHost: a.quiet.test:${silentPort}\r\nx-request-id: quiet-1\r\nConnection: close\r\n\r\n`,
  )
  assert.match(quiet, /^HTTP\/1\.1 408/)
  const rec = await waitFor(() => records.find((r) => r.requestId === 'quiet-1'))
  assert.equal(rec.responseFlags, 'SI')
  assert.equal(rec.upstreamHost, `127.0.0.1:${silentPort}`)

  // A registered host on an unregistered port: the request path's local reply (server header
  // and all), the egress headers, one record with the request id.
  const denied = await rawExchange(
    proxyPort,
    'GET http://api.example.test:81/ HTTP/1.1\r\nHost: api.example.test:81\r\nx-request-id: denied-1\r\nConnection: close\r\n\r\n',
  )
  assert.match(denied, /^HTTP\/1\.1 502/)
  assert.match(denied, /\r\nx-portcullis-egress-reason: port_not_registered\r\n/)
  assert.match(denied, /\r\nserver: istio-envoy\r\n/)
  const deniedRec = await waitFor(() => records.find((r) => r.requestId === 'denied-1'))
  assert.equal(deniedRec.responseFlags, 'EG')
  assert.equal(deniedRec.upstreamCluster, 'BlackHoleCluster')
})
