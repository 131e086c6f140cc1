// The ACME server down, against a real pebble: the gateway starts anyway and keeps serving the
// certificate it has (here the temporary one), every failed attempt is logged with its reason,
// the retries back off (about 5 s, then 10 s), and the admin /certs view shows the failures and
// the last error. pebble started again at the same address: the next attempt issues.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:tls'
import { PLACEHOLDER_ISSUER } from '../../src/acme/placeholder.js'
import { startPebble, type Pebble } from '../support/pebble.js'
import { freePorts, gatewayConfigDoc, startGateway, type GatewayProcess } from './harness/index.js'
import { poll } from '../support/acme-probes.js'

const HOST = 'www.outage.test'

/** The served certificate's issuer and serial; `ca` undefined accepts any certificate. */
function served(
  port: number,
  ca?: string,
): Promise<{ issuer: string; serial: string } | undefined> {
  return new Promise((resolve) => {
    const socket = connect(
      {
        host: '127.0.0.1',
        port,
        servername: HOST,
        ...(ca !== undefined ? { ca } : { rejectUnauthorized: false }),
      },
      () => {
        const x = socket.getPeerX509Certificate()
        socket.destroy()
        resolve(x !== undefined ? { issuer: x.issuer, serial: x.serialNumber } : undefined)
      },
    )
    socket.setTimeout(3000, () => socket.destroy(new Error('timeout')))
    socket.on('error', () => resolve(undefined))
  })
}

interface AcmeView {
  state: string
  failures?: number
  lastError?: string
  serial?: string
}

async function acmeView(adminPort: number): Promise<AcmeView | undefined> {
  const r = await fetch(`http://127.0.0.1:${adminPort}/certs?format=json`)
  return ((await r.json()) as { acme?: AcmeView[] }).acme?.[0]
}

const retryIn = (line: string) => Number(/retryInMs=(\d+)/.exec(line)?.[1])

describe('ACME with the ACME server down (pebble)', () => {
  let pebble: Pebble
  let gw: GatewayProcess
  let httpsPort: number
  let adminPort: number
  let directory: { acmePort: number; httpPort: number; ca: { cert: string; key: string } }

  before(async () => {
    // Learn an address and listener CA from a pebble, then stop it: the directory is down.
    const first = await startPebble()
    directory = {
      acmePort: first.acmePort,
      httpPort: first.httpPort,
      ca: { cert: first.listenerCa, key: first.listenerCaKey },
    }
    const directoryUrl = first.directoryUrl
    await first.stop()
    const [https, readiness, admin] = await freePorts(3)
    httpsPort = https!
    adminPort = admin!
    gw = await startGateway({
      yaml: `${gatewayConfigDoc({ readinessPort: readiness!, adminPort, accessLog: false })}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public}
spec:
  servers:
  - port: {number: ${directory.httpPort}, name: http, protocol: HTTP}
    hosts: [${HOST}]
  - port: {number: ${httpsPort}, name: https, protocol: HTTPS}
    hosts: [${HOST}]
    tls: {mode: SIMPLE, credentialName: www-tls}
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
    server: ${directoryUrl}
    caBundle: ${Buffer.from(directory.ca.cert).toString('base64')}
    privateKeySecretRef: {name: pebble-account}
    solvers:
    - http01: {}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: www}
spec:
  secretName: www-tls
  dnsNames: [${HOST}]
  issuerRef: {name: pebble}
`,
    })
  })
  after(async () => {
    await gw?.cleanup()
    await pebble?.stop()
  })

  test('serves on, backs off, shows the failure; issues once the server is back', async () => {
    const first = await gw.waitForLine(/acme order failed/, 30_000)
    const second = await gw.waitForLine(/acme order failed.*failures=2/, 30_000)
    assert.ok(retryIn(first) >= 4000 && retryIn(first) <= 6000, first)
    assert.ok(retryIn(second) >= 8000 && retryIn(second) <= 12_000, second)
    assert.equal(gw.proc.exitCode, null, 'no crash')
    const now = await poll(() => served(httpsPort), 10_000)
    assert.match(now.issuer, new RegExp(PLACEHOLDER_ISSUER.replace(/[()]/g, '\\$&')))
    const failing = await acmeView(adminPort)
    assert.equal(failing?.state, 'failed')
    assert.ok((failing?.failures ?? 0) >= 2)
    assert.match(failing?.lastError ?? '', /cannot be reached/)
    assert.match(first, /reason="?the ACME server .* cannot be reached/)

    pebble = await startPebble({
      acmePort: directory.acmePort,
      httpPort: directory.httpPort,
      listenerCa: directory.ca,
    })
    await gw.waitForLine(/acme certificate issued/, 40_000)
    const root = await pebble.issuingRoot()
    const issued = await poll(() => served(httpsPort, root), 10_000)
    const view = await acmeView(adminPort)
    process.stdout.write(
      `# outage: retries ${retryIn(first)} ms, ${retryIn(second)} ms; lastError="${failing?.lastError}"; then serial ${issued.serial}\n`,
    )
    assert.equal(view?.state, 'valid')
    assert.equal(view?.serial, issued.serial)
    assert.equal(view?.lastError, undefined)
  })
})
