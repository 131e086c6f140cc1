// ACME tls-alpn-01 (a Portcullis extension) against a real pebble that validates on the
// gateway's TLS listener: the Gateway has no HTTP server at all; the CA's ClientHello offering
// only acme-tls/1 gets the challenge certificate, and afterwards ordinary clients get the issued
// certificate on the same listener, verified with pebble's root by a TLS client and by curl.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startPebble, type Pebble } from '../support/pebble.js'
import { freePorts, gatewayConfigDoc, startGateway, type GatewayProcess } from './harness/index.js'
import { verifiedSerial } from '../support/acme-probes.js'

const HOST = 'www.alpn.test'

function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', args, { timeout: 15_000 }, (err, stdout, stderr) =>
      resolve({
        code: err === null ? 0 : ((err as { code?: number }).code ?? 1),
        stdout,
        stderr,
      }),
    )
  })
}

describe('ACME tls-alpn-01 with one replica (pebble)', () => {
  let pebble: Pebble
  let gw: GatewayProcess

  before(async () => {
    pebble = await startPebble()
    const [readiness] = await freePorts(1)
    gw = await startGateway({
      yaml: `${gatewayConfigDoc({ readinessPort: readiness!, accessLog: false })}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public}
spec:
  servers:
  - port: {number: ${pebble.tlsPort}, name: https, protocol: HTTPS}
    hosts: [${HOST}]
    tls: {mode: SIMPLE, credentialName: alpn-tls}
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
    - tlsAlpn01: {}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: www}
spec:
  secretName: alpn-tls
  dnsNames: [${HOST}]
  issuerRef: {name: pebble}
`,
    })
  })
  after(async () => {
    await gw?.cleanup()
    await pebble?.stop()
  })

  test('pebble validates on the TLS listener; the issued certificate is served', async () => {
    await gw.waitForLine(/acme challenge valid.*type=tls-alpn-01/, 60_000)
    await gw.waitForLine(/acme certificate issued/, 60_000)
    const root = await pebble.issuingRoot()
    const deadline = Date.now() + 10_000
    let serial: string | undefined
    while (serial === undefined && Date.now() < deadline)
      serial = await verifiedSerial(pebble.tlsPort, HOST, root)
    process.stdout.write(`# tls-alpn-01: served serial ${serial}, orders ${pebble.orders()}\n`)
    assert.ok(serial !== undefined)
    const rootFile = join(gw.dir, 'pebble-root.pem')
    writeFileSync(rootFile, root)
    const r = await curl([
      '-sS',
      '--cacert',
      rootFile,
      '--resolve',
      `${HOST}:${pebble.tlsPort}:127.0.0.1`,
      `https://${HOST}:${pebble.tlsPort}/`,
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'hello')
    assert.equal(pebble.orders(), 1)
  })
})
