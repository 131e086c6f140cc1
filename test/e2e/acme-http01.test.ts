// ACME http-01 against a real pebble: a Gateway server whose credentialName has no files starts
// with the temporary certificate, orders one from pebble (which validates on the gateway's
// port-80 server), and serves the issued certificate on new connections without a restart,
// verified with pebble's root by a real TLS client and by curl. Exactly one order is placed.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startPebble, type Pebble } from '../support/pebble.js'
import { freePorts, gatewayConfigDoc, startGateway, type GatewayProcess } from './harness/index.js'
import { verifiedSerial, poll } from '../support/acme-probes.js'

const HOST = 'www.acme.test'

/** The peer certificate's serial when it verifies against `ca`, else undefined. */
function curl(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile('curl', args, { timeout: 15_000 }, (err, stdout) =>
      resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout }),
    )
  })
}

function gatewayYaml(pebble: Pebble, httpsPort: number, readinessPort: number): string {
  const caBundle = Buffer.from(pebble.listenerCa).toString('base64')
  return `${gatewayConfigDoc({ readinessPort, accessLog: false })}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: public
spec:
  servers:
  - port: {number: ${pebble.httpPort}, name: http, protocol: HTTP}
    hosts: [${HOST}]
  - port: {number: ${httpsPort}, name: https, protocol: HTTPS}
    hosts: [${HOST}]
    tls:
      mode: SIMPLE
      credentialName: www-tls
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: www
spec:
  hosts: [${HOST}]
  gateways: [public]
  http:
  - directResponse: {status: 200, body: {string: "hello over acme"}}
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata:
  name: pebble
spec:
  acme:
    server: ${pebble.directoryUrl}
    email: ops@acme.test
    caBundle: ${caBundle}
    privateKeySecretRef: {name: pebble-account}
    solvers:
    - http01: {}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: www
spec:
  secretName: www-tls
  dnsNames: [${HOST}]
  issuerRef: {name: pebble}
`
}

describe('ACME http-01 with one replica (pebble)', () => {
  let pebble: Pebble
  let gw: GatewayProcess
  let httpsPort: number

  before(async () => {
    pebble = await startPebble()
    const [https, readiness] = await freePorts(2)
    httpsPort = https!
    gw = await startGateway({ yaml: gatewayYaml(pebble, httpsPort, readiness!) })
  })
  after(async () => {
    await gw?.cleanup()
    await pebble?.stop()
  })

  test('serves a pebble-issued certificate on the TLS listener without a restart', async () => {
    await gw.waitForLine(/acme certificate issued/, 60_000)
    const root = await pebble.issuingRoot()
    const serial = await poll(() => verifiedSerial(httpsPort, HOST, root), 10_000)
    const installed = new X509Certificate(
      // The certificate the gateway wrote into the credential directory is the one served.
      (await import('node:fs')).readFileSync(join(gw.dir, 'certs', 'www-tls', 'tls.crt')),
    )
    assert.equal(serial, installed.serialNumber)
    assert.match(installed.subjectAltName ?? '', new RegExp(`DNS:${HOST.replaceAll('.', '\\.')}`))

    const rootFile = join(gw.dir, 'pebble-root.pem')
    writeFileSync(rootFile, root)
    const r = await curl([
      '-sS',
      '--cacert',
      rootFile,
      '--resolve',
      `${HOST}:${httpsPort}:127.0.0.1`,
      `https://${HOST}:${httpsPort}/`,
    ])
    assert.equal(r.code, 0)
    assert.equal(r.stdout, 'hello over acme')
    assert.equal(pebble.orders(), 1, 'exactly one order')
    assert.ok(gw.output.some((l) => /serving a temporary self-signed certificate/.test(l.line)))
    assert.ok(gw.output.some((l) => /certificates reloaded/.test(l.line)))
  })
})
