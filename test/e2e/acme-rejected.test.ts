// A rejected order against a real pebble (the name is on its domainBlocklist): the CA's problem
// is a clear log line and the admin /certs last error, retries back off, and the process keeps
// running and serving (no crash loop).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startPebble, type Pebble } from '../support/pebble.js'
import { freePorts, gatewayConfigDoc, startGateway, type GatewayProcess } from './harness/index.js'

const HOST = 'blocked.reject.test'

describe('ACME order rejected by the CA (pebble)', () => {
  let pebble: Pebble
  let gw: GatewayProcess
  let adminPort: number

  before(async () => {
    pebble = await startPebble({ domainBlocklist: [HOST] })
    const [https, readiness, admin] = await freePorts(3)
    adminPort = admin!
    gw = await startGateway({
      yaml: `${gatewayConfigDoc({ readinessPort: readiness!, adminPort, accessLog: false })}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public}
spec:
  servers:
  - port: {number: ${pebble.httpPort}, name: http, protocol: HTTP}
    hosts: [${HOST}]
  - port: {number: ${https!}, name: https, protocol: HTTPS}
    hosts: [${HOST}]
    tls: {mode: SIMPLE, credentialName: blocked-tls}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: www}
spec:
  hosts: [${HOST}]
  gateways: [public]
  http:
  - directResponse: {status: 200, body: {string: "hello"}}
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: pebble}
spec:
  acme:
    server: ${pebble.directoryUrl}
    caBundle: ${Buffer.from(pebble.listenerCa).toString('base64')}
    privateKeySecretRef: {name: pebble-account}
    solvers:
    - http01: {}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: blocked}
spec:
  secretName: blocked-tls
  dnsNames: [${HOST}]
  issuerRef: {name: pebble}
`,
    })
  })
  after(async () => {
    await gw?.cleanup()
    await pebble?.stop()
  })

  test('a clear error in the log and the admin view, backed off, no crash loop', async () => {
    const first = await gw.waitForLine(/acme order failed/, 30_000)
    const second = await gw.waitForLine(/acme order failed.*failures=2/, 30_000)
    process.stdout.write(`# rejected: ${first}\n`)
    assert.match(first, /certificate=default\/blocked/)
    assert.match(first, new RegExp(HOST.replaceAll('.', '\\.')))
    assert.match(second, /retryInMs=(8|9|1[0-2])\d{3}\b/)
    const r = await fetch(`http://127.0.0.1:${adminPort}/certs?format=json`)
    const c = (
      (await r.json()) as { acme?: { state: string; failures?: number; lastError?: string }[] }
    ).acme?.[0]
    assert.equal(c?.state, 'failed')
    assert.ok((c?.failures ?? 0) >= 2)
    assert.match(c?.lastError ?? '', new RegExp(HOST.replaceAll('.', '\\.')))
    assert.equal(gw.proc.exitCode, null, 'still running')
    assert.equal(pebble.orders() >= 2, true, 'each attempt is one order request')
  })
})
