// External account binding against a real pebble that requires it (externalAccountBindingRequired
// with one MAC key): an Issuer whose externalAccountBinding names that key id and a Secret holding
// the CA-issued base64url HMAC key gets a certificate; the same Issuer with a wrong key is a
// clear error in the log and the admin /certs view, retried with backoff, and the process keeps
// serving (no crash loop). The key is read as the compiler maps keySecretRef: the file
// `<certsDir>/<keySecretRef.name>/<keySecretRef.key>`.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { startPebble, type Pebble } from '../support/pebble.js'
import { freePorts, gatewayConfigDoc, startGateway, type GatewayProcess } from './harness/index.js'
import { poll, verifiedSerial } from '../support/acme-probes.js'

const KEY_ID = 'kid-portcullis'
const MAC_KEY = randomBytes(32).toString('base64url')
const WRONG_KEY = randomBytes(32).toString('base64url')

function yaml(o: {
  pebble: Pebble
  host: string
  httpPort: number
  httpsPort: number
  readinessPort: number
  adminPort: number
}): string {
  return `${gatewayConfigDoc({ readinessPort: o.readinessPort, adminPort: o.adminPort, accessLog: false })}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public}
spec:
  servers:
  - port: {number: ${o.httpPort}, name: http, protocol: HTTP}
    hosts: [${o.host}]
  - port: {number: ${o.httpsPort}, name: https, protocol: HTTPS}
    hosts: [${o.host}]
    tls: {mode: SIMPLE, credentialName: eab-tls}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: www}
spec:
  hosts: [${o.host}]
  gateways: [public]
  http:
  - directResponse: {status: 200, body: {string: "hello"}}
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: pebble}
spec:
  acme:
    server: ${o.pebble.directoryUrl}
    caBundle: ${Buffer.from(o.pebble.listenerCa).toString('base64')}
    privateKeySecretRef: {name: pebble-account}
    externalAccountBinding:
      keyID: ${KEY_ID}
      keySecretRef: {name: pebble-eab, key: hmac-key}
    solvers:
    - http01: {}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: www}
spec:
  secretName: eab-tls
  dnsNames: [${o.host}]
  issuerRef: {name: pebble}
`
}

interface AcmeView {
  acme?: { state: string; serial?: string; failures?: number; lastError?: string }[]
}

describe('ACME external account binding (pebble requiring EAB)', () => {
  let pebble: Pebble
  let good: GatewayProcess
  let wrong: GatewayProcess
  let goodHttps: number
  let wrongAdmin: number

  before(async () => {
    pebble = await startPebble({ eabKeys: { [KEY_ID]: MAC_KEY } })
    const [goodReady, goodAdmin, https, wrongHttp, wrongHttps, wrongReady, admin] =
      await freePorts(7)
    goodHttps = https!
    wrongAdmin = admin!
    // The one with the right key answers pebble's http-01 on its validation port; the other
    // never gets as far as an order.
    ;[good, wrong] = await Promise.all([
      startGateway({
        yaml: yaml({
          pebble,
          host: 'www.eab.test',
          httpPort: pebble.httpPort,
          httpsPort: goodHttps,
          readinessPort: goodReady!,
          adminPort: goodAdmin!,
        }),
        // As a Kubernetes Secret mounted in the certs directory holds it: the key as the CA
        // handed it out, with the trailing newline an editor adds.
        files: { 'certs/pebble-eab/hmac-key': `${MAC_KEY}\n` },
      }),
      startGateway({
        yaml: yaml({
          pebble,
          host: 'wrong.eab.test',
          httpPort: wrongHttp!,
          httpsPort: wrongHttps!,
          readinessPort: wrongReady!,
          adminPort: wrongAdmin,
        }),
        files: { 'certs/pebble-eab/hmac-key': WRONG_KEY },
      }),
    ])
  })
  after(async () => {
    await Promise.all([good?.cleanup(), wrong?.cleanup()])
    await pebble?.stop()
  })

  test('the bound account gets a certificate', async () => {
    await good.waitForLine(/acme certificate issued/, 60_000)
    const root = await pebble.issuingRoot()
    const serial = await poll(() => verifiedSerial(goodHttps, 'www.eab.test', root), 30_000)
    process.stdout.write(`# eab: served serial ${serial}\n`)
    assert.ok(serial.length > 0)
  })

  test('a wrong MAC key: a clear error in the log and the admin view, no crash loop', async () => {
    const first = await wrong.waitForLine(/acme order failed/, 30_000)
    const second = await wrong.waitForLine(/acme order failed.*failures=2/, 30_000)
    process.stdout.write(`# eab wrong key: ${first}\n`)
    assert.match(first, /external account binding/i)
    assert.match(first, new RegExp(KEY_ID))
    assert.match(second, /retryInMs=(8|9|1[0-2])\d{3}\b/)
    const view = (await (
      await fetch(`http://127.0.0.1:${wrongAdmin}/certs?format=json`)
    ).json()) as AcmeView
    const c = view.acme?.[0]
    assert.equal(c?.state, 'failed')
    assert.ok((c?.failures ?? 0) >= 2)
    assert.match(c?.lastError ?? '', /external account binding/i)
    assert.equal(wrong.proc.exitCode, null, 'still running')
    assert.equal(countIssued(wrong), 0)
  })
})

const countIssued = (g: GatewayProcess) =>
  g.output.filter((l) => /acme certificate issued/.test(l.line)).length
