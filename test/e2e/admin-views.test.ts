// The Envoy-style admin views of a real running gateway: /clusters (endpoint health, outlier
// ejection, requests in flight, pool use), /listeners, /routes and
// /config_dump?resource=dynamic_route_configs, /certs (SANs, not-after, days until expiry), each
// in text and with ?format=json.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createCa, issueCertificate } from '../../src/cli/cert-forge.js'
import {
  freePort,
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  request,
  startGateway,
  startUpstream,
} from './harness/index.js'
import type { GatewayProcess, Upstream } from './harness/index.js'

const DEADLINE_MS = 20_000
const CLUSTER = 'outbound|80||echo.test'

interface HostStatus {
  address: { socket_address: { address: string; port_value: number } }
  stats: { name: string; value: number }[]
  health_status: { eds_health_status: string; failed_outlier_check?: boolean }
}
interface ClusterStatuses {
  cluster_statuses: { name: string; host_statuses: HostStatus[]; rq_active: number }[]
}

describe('admin views', () => {
  let gw: GatewayProcess
  let up: Upstream
  let httpPort: number
  let tlsPort: number
  let admin: string
  let deadPort: number
  const ca = createCa('views CA')
  const web = issueCertificate(ca, { hosts: ['web.example.com', 'www.example.com'], days: 30 })

  before(async () => {
    const [h, t, readiness, a] = await freePorts(4)
    httpPort = h!
    tlsPort = t!
    deadPort = await freePort()
    admin = `http://127.0.0.1:${a!}`
    up = await startUpstream({ name: 'live' })
    gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({ readinessPort: readiness!, adminPort: a! }),
        `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  servers:
    - port: {number: ${httpPort}, name: http, protocol: HTTP}
      hosts: ['*']
    - port: {number: ${tlsPort}, name: https-web, protocol: HTTPS}
      hosts: [web.example.com]
      tls: {mode: SIMPLE, credentialName: web}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo}
spec:
  hosts: [echo.test]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
    - {address: 127.0.0.1, ports: {http: ${up.port}}}
    - {address: 127.0.0.1, ports: {http: ${deadPort}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo.test
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    connectionPool: {http: {http2MaxRequests: 77}}
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 10m, maxEjectionPercent: 50}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo}
spec:
  hosts: ['*']
  gateways: [edge]
  http:
    - name: deny
      match: [{uri: {prefix: /admin}}]
      directResponse: {status: 403}
    - name: echo
      route: [{destination: {host: echo.test}}]
`,
      ),
      files: { 'certs/web/tls.crt': web.cert, 'certs/web/tls.key': web.key },
    })
  })
  after(async () => {
    await gw?.cleanup()
    await up?.close()
  })

  const statusOf = async (): Promise<ClusterStatuses> =>
    (await request(`${admin}/clusters?format=json`)).json<ClusterStatuses>()
  const hostOf = (s: ClusterStatuses, port: number): HostStatus | undefined =>
    s.cluster_statuses
      .find((c) => c.name === CLUSTER)
      ?.host_statuses.find((h) => h.address.socket_address.port_value === port)
  const stat = (h: HostStatus | undefined, name: string): number | undefined =>
    h?.stats.find((s) => s.name === name)?.value

  test('/clusters: the endpoint that refuses connections is ejected, the live one is healthy', async () => {
    const until = Date.now() + DEADLINE_MS
    let status = await statusOf()
    for (let i = 0; i < 200 && Date.now() < until; i++) {
      if (hostOf(status, deadPort)?.health_status.failed_outlier_check === true) break
      await request(`http://127.0.0.1:${httpPort}/x`)
      status = await statusOf()
    }
    const dead = hostOf(status, deadPort)
    const live = hostOf(status, up.port)
    assert.equal(dead?.health_status.failed_outlier_check, true)
    assert.equal(stat(dead, 'ejections'), 1)
    assert.equal(live?.health_status.failed_outlier_check, undefined)
    assert.equal(live?.health_status.eds_health_status, 'HEALTHY')

    const text = (await request(`${admin}/clusters`)).text
    assert.ok(
      text.includes(`${CLUSTER}::127.0.0.1:${deadPort}::health_flags::/failed_outlier_check\n`),
      text,
    )
    assert.ok(text.includes(`${CLUSTER}::127.0.0.1:${up.port}::health_flags::healthy\n`), text)
    assert.ok(text.includes(`${CLUSTER}::default_priority::max_requests::77\n`), text)
  })

  test('/clusters: a request in flight shows as rq_active on its endpoint and cluster', async () => {
    const slow = request(`http://127.0.0.1:${httpPort}/delay/3`, { timeoutMs: 15_000 })
    const until = Date.now() + DEADLINE_MS
    let status = await statusOf()
    for (let i = 0; i < 400 && Date.now() < until; i++) {
      if (stat(hostOf(status, up.port), 'rq_active') === 1) break
      await new Promise((r) => setTimeout(r, 25))
      status = await statusOf()
    }
    assert.equal(stat(hostOf(status, up.port), 'rq_active'), 1)
    assert.ok((stat(hostOf(status, up.port), 'cx_active') ?? 0) >= 1)
    assert.equal(status.cluster_statuses.find((c) => c.name === CLUSTER)?.rq_active, 1)
    assert.equal((await slow).status, 200)
  })

  test('/listeners: both ports with their servers, text and JSON', async () => {
    const text = (await request(`${admin}/listeners`)).text
    assert.match(text, new RegExp(`::127\\.0\\.0\\.1:${httpPort}::http::default/edge/http\\n`))
    assert.match(text, new RegExp(`::127\\.0\\.0\\.1:${tlsPort}::tls::default/edge/https-web\\n`))
    const json = (await request(`${admin}/listeners?format=json`)).json<{
      listener_statuses: {
        local_address: { socket_address: { port_value: number } }
        filter_chains: { server_names?: string[]; tls_mode?: string }[]
      }[]
    }>()
    const tls = json.listener_statuses.find(
      (l) => l.local_address.socket_address.port_value === tlsPort,
    )
    assert.deepEqual(
      tls?.filter_chains.map((c) => [c.server_names, c.tls_mode]),
      [[['web.example.com'], 'SIMPLE']],
    )
  })

  test('/routes and /config_dump?resource=dynamic_route_configs: the route tables', async () => {
    const text = (await request(`${admin}/routes`)).text
    assert.ok(
      text.includes(
        `http.${httpPort}::*:${httpPort}::default/echo/http[0] "deny"::uri ^/admin::direct_response 403\n`,
      ),
      text,
    )
    assert.ok(
      text.includes(
        `http.${httpPort}::*:${httpPort}::default/echo/http[1] "echo"::any::${CLUSTER} 100/100\n`,
      ),
      text,
    )
    const dump = (await request(`${admin}/config_dump?resource=dynamic_route_configs`)).json<{
      dynamic_route_configs: {
        route_config: { name: string; virtual_hosts: { domains: string[] }[] }
      }[]
    }>()
    const names = dump.dynamic_route_configs.map((c) => c.route_config.name)
    assert.ok(names.includes(`http.${httpPort}`), names.join(','))
    assert.equal((await request(`${admin}/routes?format=json`)).status, 200)
    assert.equal((await request(`${admin}/config_dump?resource=nope`)).status, 400)
  })

  test('/certs: the server certificate with its SANs, not-after and days until expiry', async () => {
    const json = (await request(`${admin}/certs?format=json`)).json<{
      certificates: {
        used_by: string
        cert_chain: {
          subject_alt_names: Record<string, string>[]
          expiration_time: string
          days_until_expiration: number
        }[]
      }[]
    }>()
    assert.equal(json.certificates.length, 1)
    const leaf = json.certificates[0]!.cert_chain[0]!
    assert.deepEqual(leaf.subject_alt_names, [
      { dns: 'web.example.com' },
      { dns: 'www.example.com' },
    ])
    // Issued for 30 days from an hour ago: 29 whole days are left.
    assert.equal(leaf.days_until_expiration, 29)
    const text = (await request(`${admin}/certs`)).text
    assert.match(
      text,
      /::cert_chain::.*::sans=dns:web\.example\.com,dns:www\.example\.com::not_after=\S+::days_until_expiration=29\n/,
    )
  })
})
