/**
 * GatewayConfig dns.servers reaches the request path of the real process: a DNS ServiceEntry
 * whose name only the test DNS server knows is routed to.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { startTestDnsServer } from '../support/dns-server.js'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  startGateway,
  startUpstream,
} from './harness/index.js'

test('a DNS ServiceEntry resolves through the configured dns.servers', async (t) => {
  const [gatewayPort, readinessPort] = await freePorts(2)
  const up = await startUpstream({ name: 'dns-named' })
  t.after(() => up.close())
  const dns = await startTestDnsServer()
  t.after(() => dns.close())
  dns.records.set('api.dns-only.test', ['127.0.0.1'])
  const gw = await startGateway({
    yaml: joinDocs(
      gatewayConfigDoc({
        readinessPort: readinessPort!,
        accessLog: false,
        extraSpec: ['  dns:', `    servers: ["${dns.address}"]`],
      }),
      `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web}
spec:
  servers:
  - port: {number: ${gatewayPort}, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: ["*"]
  gateways: [web]
  http:
  - route: [{destination: {host: api.dns-only.test, port: {number: ${up.port}}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.dns-only.test]
  ports: [{number: ${up.port}, name: http, protocol: HTTP}]
  resolution: DNS
`,
    ),
  })
  t.after(() => gw.cleanup())
  const res = await request(`http://127.0.0.1:${gatewayPort}/resolved`)
  assert.equal(res.statusCode, 200, await res.body.text())
  assert.equal(up.requests.at(-1)?.url, '/resolved')
  assert.ok(dns.queries > 0)
})
