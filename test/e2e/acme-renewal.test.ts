// Renewal against a real pebble issuing 30-second certificates, under steady HTTPS traffic on new
// connections (a bounded, modest rate: five clients, one request each 100 ms at most): the
// certificate is renewed a third of its lifetime before expiry, new connections get the new
// serial, and no handshake or request fails while it rotates.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:https'
import { TLSSocket } from 'node:tls'
import { startPebble, type Pebble } from '../support/pebble.js'
import { freePorts, gatewayConfigDoc, startGateway, type GatewayProcess } from './harness/index.js'

const HOST = 'www.renew.test'
const VALIDITY_S = 30

/** One GET on a new connection: the served serial, or the error. */
function get(port: number, ca: string): Promise<{ serial?: string; error?: string }> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        servername: HOST,
        headers: { host: HOST },
        ca,
        agent: false,
        timeout: 5000,
      },
      (res) => {
        const socket = res.socket
        const serial =
          socket instanceof TLSSocket ? socket.getPeerX509Certificate()?.serialNumber : undefined
        res.resume()
        res.on('end', () =>
          resolve(
            res.statusCode === 200
              ? { ...(serial ? { serial } : {}) }
              : { error: `status ${res.statusCode}` },
          ),
        )
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (e) => resolve({ error: e.message }))
    req.end()
  })
}

describe('ACME renewal under traffic (pebble, 30 s certificates)', () => {
  let pebble: Pebble
  let gw: GatewayProcess
  let httpsPort: number

  before(async () => {
    pebble = await startPebble({ certificateValiditySeconds: VALIDITY_S })
    const [https, readiness] = await freePorts(2)
    httpsPort = https!
    gw = await startGateway({
      yaml: `${gatewayConfigDoc({ readinessPort: readiness!, accessLog: false })}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public}
spec:
  servers:
  - port: {number: ${pebble.httpPort}, name: http, protocol: HTTP}
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
    server: ${pebble.directoryUrl}
    caBundle: ${Buffer.from(pebble.listenerCa).toString('base64')}
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

  test('a new serial on new connections, no failed handshake or request', async () => {
    await gw.waitForLine(/acme certificate issued/, 60_000)
    const root = await pebble.issuingRoot()
    // Traffic starts once the issued certificate is served (the temporary one does not verify).
    const deadline = Date.now() + 30_000
    let firstServed: string | undefined
    while (firstServed === undefined && Date.now() < deadline)
      firstServed = (await get(httpsPort, root)).serial
    assert.ok(firstServed !== undefined)
    const serials = new Map<string, number>()
    const errors: string[] = []
    let total = 0
    let renewed = false
    let afterRenewal = 0
    const stopAt = Date.now() + VALIDITY_S * 1000 + 15_000
    const client = async () => {
      // Until the new serial has answered 50 requests, or the bound passes.
      while (afterRenewal < 50 && Date.now() < stopAt) {
        const started = Date.now()
        const r = await get(httpsPort, root)
        total++
        if (r.error !== undefined) errors.push(r.error)
        if (r.serial !== undefined) {
          serials.set(r.serial, (serials.get(r.serial) ?? 0) + 1)
          if (r.serial !== firstServed) {
            renewed = true
            afterRenewal++
          }
        }
        await new Promise((res) => setTimeout(res, Math.max(0, 100 - (Date.now() - started))))
      }
    }
    await Promise.all([client(), client(), client(), client(), client()])
    process.stdout.write(
      `# renewal: ${total} requests, ${errors.length} failed, serials ${JSON.stringify(Object.fromEntries(serials))}\n`,
    )
    assert.ok(renewed, 'a renewed certificate was served')
    assert.deepEqual(errors, [])
    assert.equal(pebble.orders(), 2, 'the first order and one renewal')
  })
})
