// egress.sniPortMappings: an SNI egress listener on an unprivileged port admits names as the
// ServiceEntry's service port (8443-style listen port for 443), so 443 needs no root. A name
// registered only on the listen port itself is refused there: the service port decides.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createCa } from '../../src/cli/cert-forge.js'
import { startTestDnsServer, type TestDnsServer } from '../support/dns-server.js'
import { startHttpsUpstream, tlsGet, type HttpsUpstream } from './egress-kit.js'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  startGateway,
  type GatewayProcess,
} from './harness/index.js'

describe('SNI egress listen port → service port', () => {
  const ca = createCa('sni mapping test CA')
  let dns: TestDnsServer
  let secure: HttpsUpstream
  let gw: GatewayProcess
  let listenPort: number

  before(async () => {
    dns = await startTestDnsServer()
    for (const name of ['secure.egress.test', 'listenonly.egress.test']) {
      dns.records.set(name, ['127.0.0.1'])
    }
    secure = await startHttpsUpstream({
      name: 'secure',
      ca,
      hosts: ['secure.egress.test', 'listenonly.egress.test'],
    })
    const [sni, readiness] = await freePorts(2)
    listenPort = sni!
    gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({
          readinessPort: readiness!,
          accessLog: false,
          extraSpec: [
            `  egress: {sniPortMappings: [{port: ${listenPort}, servicePort: 443}]}`,
            '  outboundTrafficPolicy: {mode: REGISTRY_ONLY, allowPrivateAddresses: true}',
            `  dns: {servers: ["${dns.address}"]}`,
          ],
        }),
        `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: secure}
spec:
  hosts: [secure.egress.test]
  ports: [{number: 443, name: tls, protocol: TLS, targetPort: ${secure.port}}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: listenonly}
spec:
  hosts: [listenonly.egress.test]
  ports: [{number: ${listenPort}, name: tls, protocol: TLS, targetPort: ${secure.port}}]
  resolution: DNS
`,
      ),
    })
  })

  after(async () => {
    await gw?.cleanup()
    await Promise.all([secure?.close(), dns?.close()])
  })

  test('a name registered on 443 passes through the mapped listen port', async () => {
    const reply = await tlsGet({ port: listenPort, servername: 'secure.egress.test', ca: ca.cert })
    assert.equal(reply.status, 200, reply.error)
    assert.match(reply.body, /"name":"secure"/)
  })

  test('a name registered only on the listen port is refused there', async () => {
    const before = secure.connections
    const reply = await tlsGet({
      port: listenPort,
      servername: 'listenonly.egress.test',
      ca: ca.cert,
    })
    assert.equal(reply.status, undefined)
    assert.equal(secure.connections, before, 'no upstream connection was made')
  })
})
