// Transparent egress on a Gateway HTTP server: clients reach the gateway by DNS and the Host
// header picks the external service. A VirtualService routes the host to its ServiceEntry,
// which resolves through the configured DNS servers; a Host the server does not list is not
// forwarded anywhere.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestDnsServer } from '../support/dns-server.js'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  request,
  startGateway,
  startUpstream,
} from './harness/index.js'

test('a Gateway HTTP server admits an external host by Host and routes it to its ServiceEntry', async (t) => {
  const [gatewayPort, readinessPort] = await freePorts(2)
  const api = await startUpstream({ name: 'api' })
  t.after(() => api.close())
  const other = await startUpstream({ name: 'other' })
  t.after(() => other.close())
  const dns = await startTestDnsServer()
  t.after(() => dns.close())
  dns.records.set('api.egress.test', ['127.0.0.1'])
  const gw = await startGateway({
    yaml: joinDocs(
      gatewayConfigDoc({
        readinessPort: readinessPort!,
        accessLog: false,
        extraSpec: [
          '  outboundTrafficPolicy: {mode: REGISTRY_ONLY, allowPrivateAddresses: true}',
          `  dns: {servers: ["${dns.address}"]}`,
        ],
      }),
      `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: egress}
spec:
  servers:
  - port: {number: ${gatewayPort}, name: http, protocol: HTTP}
    hosts: [api.egress.test]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api}
spec:
  hosts: [api.egress.test]
  gateways: [egress]
  http:
  - route: [{destination: {host: api.egress.test, port: {number: ${api.port}}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.egress.test]
  ports: [{number: ${api.port}, name: http, protocol: HTTP}]
  resolution: DNS
`,
    ),
  })
  t.after(() => gw.cleanup())
  const res = await request(`http://127.0.0.1:${gatewayPort}/by-host`, {
    headers: { host: 'api.egress.test' },
  })
  assert.equal(res.status, 200, res.text)
  assert.equal(res.headers['x-upstream-name'], 'api')
  assert.equal(api.requests.at(-1)?.headers.host, 'api.egress.test')
  const refused = await request(`http://127.0.0.1:${gatewayPort}/`, {
    headers: { host: `other.egress.test:${other.port}` },
  })
  assert.notEqual(refused.status, 200)
  assert.equal(other.connections, 0)
})
