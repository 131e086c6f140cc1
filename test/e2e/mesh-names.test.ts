// The outbound listener addressed as Istio's task pages address services: by short name
// (`reviews:9080`), `name.ns`, `name.ns.svc` and the FQDN, with the port from Host else 80, for a
// proxy in `outbound.namespace`; services of other namespaces only as `name.ns`. A mesh
// VirtualService for a host no ServiceEntry backs is applied on port 80, as Istio applies it,
// even under REGISTRY_ONLY. Real loopback upstreams stand for the services (STATIC entries).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { startTestDnsServer, type TestDnsServer } from '../support/dns-server.js'
import { rawConnect } from './egress-kit.js'
import { join } from 'node:path'
import {
  REPO_ROOT,
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  request,
  startGateway,
  startUpstream,
  type GatewayProcess,
  type Upstream,
} from './harness/index.js'

function staticEntry(name: string, host: string, port: number, upstream: Upstream): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}}
spec:
  hosts: [${host}]
  location: MESH_INTERNAL
  ports: [{number: ${port}, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: ${upstream.port}}}]
`
}

describe('outbound listener: Istio sidecar names', () => {
  let reviews: Upstream
  let ratings: Upstream
  let gw: GatewayProcess
  let proxyPort: number

  before(async () => {
    reviews = await startUpstream({ name: 'reviews' })
    ratings = await startUpstream({ name: 'ratings' })
    const [proxy, readiness] = await freePorts(2)
    proxyPort = proxy!
    const redirect = await readFile(
      join(
        REPO_ROOT,
        '../shared/istio-samples/routing-redirect-authority-prefix-rewrite-snake-case.yaml',
      ),
      'utf8',
    )
    gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({
          readinessPort: readiness!,
          accessLog: false,
          extraSpec: [
            `  outbound: {port: ${proxyPort}, address: 127.0.0.1}`,
            '  outboundTrafficPolicy: {mode: REGISTRY_ONLY}',
          ],
        }),
        staticEntry('reviews', 'reviews.default.svc.cluster.local', 9080, reviews),
        staticEntry('ratings', 'ratings.prod.svc.cluster.local', 9080, ratings),
        redirect,
      ),
    })
  })

  after(async () => {
    await gw?.cleanup()
    await Promise.all([reviews?.close(), ratings?.close()])
  })

  const get = (host: string, path = '/reviews/0') =>
    request(`http://127.0.0.1:${proxyPort}${path}`, { headers: { host } })

  test('every name a proxy in default has for reviews reaches it, by Host', async () => {
    for (const host of [
      'reviews:9080',
      'reviews.default:9080',
      'reviews.default.svc:9080',
      'reviews.default.svc.cluster.local:9080',
    ]) {
      const res = await get(host)
      assert.equal(res.status, 200, `${host}: ${res.text}`)
      assert.equal(res.headers['x-upstream-name'], 'reviews', host)
      // As Envoy, the Host the client wrote is the one the service sees.
      assert.equal(reviews.requests.at(-1)?.headers.host, host)
    }
  })

  test('absolute-form requests (HTTP_PROXY clients) use the same names', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: proxyPort,
          path: 'http://reviews:9080/reviews/0',
          headers: { host: 'reviews:9080' },
        },
        (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
        },
      )
      req.on('error', reject)
      req.end()
    })
    assert.equal(status, 200)
    assert.equal(reviews.requests.at(-1)?.path, '/reviews/0')
  })

  test('without a port in Host the port is 80, which reviews does not serve', async () => {
    const res = await get('reviews')
    assert.equal(res.status, 502, res.text)
    assert.equal(res.headers['x-portcullis-egress-reason'], 'port_not_registered')
  })

  test('a service of another namespace answers to name.ns, not to its bare name', async () => {
    const ok = await get('ratings.prod:9080', '/ratings/0')
    assert.equal(ok.status, 200, ok.text)
    assert.equal(ok.headers['x-upstream-name'], 'ratings')
    const bare = await get('ratings:9080', '/ratings/0')
    assert.equal(bare.status, 502, bare.text)
    assert.equal(bare.headers['x-portcullis-egress-reason'], 'host_not_registered')
  })

  test('a mesh VirtualService without a ServiceEntry applies on port 80', async () => {
    const res = await get('example.com', '/foo/bar')
    assert.equal(res.status, 301, res.text)
    assert.equal(res.headers.location, 'http://foo.example.com/bar')
  })
})

describe('outbound listener on a service port', () => {
  let reviews: Upstream
  let gw: GatewayProcess
  let proxyPort: number
  let dns: TestDnsServer
  let logPath: string
  let dir: string

  before(async () => {
    reviews = await startUpstream({ name: 'reviews' })
    dns = await startTestDnsServer()
    dir = await mkdtemp(join(tmpdir(), 'portcullis-mesh-'))
    logPath = join(dir, 'access.log')
    const [proxy, readiness] = await freePorts(2)
    proxyPort = proxy!
    gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({
          readinessPort: readiness!,
          extraSpec: [
            '  accessLog:',
            '    disabled: false',
            `    path: ${JSON.stringify(logPath)}`,
            '    encoding: JSON',
            `  outbound: {port: ${proxyPort}, address: 127.0.0.1}`,
            '  outboundTrafficPolicy: {mode: REGISTRY_ONLY}',
            `  dns: {servers: ["${dns.address}"]}`,
          ],
        }),
        staticEntry('reviews', 'reviews.default.svc.cluster.local', proxyPort, reviews),
        `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ghost}
spec:
  hosts: [ghost.example.test]
  ports: [{number: 80, name: http, protocol: HTTP}, {number: 443, name: tls, protocol: TLS}]
  resolution: DNS
`,
      ),
    })
  })

  after(async () => {
    await gw?.cleanup()
    await Promise.all([reviews?.close(), dns?.close()])
    await rm(dir, { recursive: true, force: true })
  })

  test('a Host without a port takes the port the client connected to', async () => {
    const res = await request(`http://127.0.0.1:${proxyPort}/reviews/0`, {
      headers: { host: 'reviews' },
    })
    assert.equal(res.status, 200, res.text)
    assert.equal(res.headers['x-upstream-name'], 'reviews')
    const explicit80 = await request(`http://127.0.0.1:${proxyPort}/reviews/0`, {
      headers: { host: 'reviews:80' },
    })
    assert.equal(explicit80.status, 502, 'an explicit :80 is port 80')
  })

  // Envoy's answer for a strict-DNS cluster with no hosts (Istio's DNS ServiceEntry whose name
  // does not resolve); a CONNECT tunnel to its TLS port, resolved by the allowlist itself, says
  // why (a CONNECT to its HTTP port is served by the request path, so it is the first case).
  test('a registered DNS host that does not resolve: 503 UH, or UF dns_resolution_failed for CONNECT', async () => {
    const res = await request(`http://127.0.0.1:${proxyPort}/`, {
      headers: { host: 'ghost.example.test:80' },
    })
    assert.equal(res.status, 503)
    assert.equal(res.text, 'no healthy upstream')
    const tunnel = await rawConnect(proxyPort, 'ghost.example.test:443')
    assert.equal(tunnel.status, 503, tunnel.text)
    assert.match(tunnel.text, /x-portcullis-egress-reason: dns_resolution_failed/i)
    const deadline = Date.now() + 10_000
    let lines: Record<string, unknown>[] = []
    while (lines.length < 2 && Date.now() < deadline) {
      const text = await readFile(logPath, 'utf8').catch(() => '')
      lines = text
        .split('\n')
        .filter((l) => l.includes('ghost.example.test'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
      if (lines.length < 2) await new Promise((r) => setTimeout(r, 20))
    }
    const http = lines.find((l) => l.method === 'GET')
    assert.equal(http?.response_flags, 'UH')
    assert.equal(http?.response_code_details, 'no_healthy_upstream')
    assert.equal(http?.upstream_cluster, 'outbound|80||ghost.example.test')
    const connect = lines.find((l) => l.method === 'CONNECT')
    assert.equal(connect?.response_flags, 'UF')
    assert.equal(connect?.response_code_details, 'dns_resolution_failed')
  })
})
