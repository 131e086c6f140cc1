// Three gateway processes sharing one Redis, against a real pebble whose validation port is a
// round-robin TCP forwarder in front of the three (http-01: pebble's httpPort to their HTTP
// listeners; tls-alpn-01: pebble's tlsPort to their TLS listeners): only the replica holding the
// order lock orders (pebble sees one order), the CA's request is answered by a replica that did
// not place it (the forwarder starts at the next one), and every replica serves the same
// certificate.
// Killing the lock holder mid-order: another replica takes the lease once it expires and
// finishes the certificate.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startPebble, type Pebble } from '../support/pebble.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'
import {
  startRoundRobinForwarder,
  type RoundRobinForwarder,
} from '../support/round-robin-forwarder.js'
import { freePorts, gatewayConfigDoc, startGateway, type GatewayProcess } from './harness/index.js'
import { verifiedSerial, poll } from '../support/acme-probes.js'

const LOCK_TTL_MS = 4000

type Challenge = 'http-01' | 'tls-alpn-01'

interface Fleet {
  readonly gateways: GatewayProcess[]
  readonly httpsPorts: number[]
  readonly adminPorts: number[]
  readonly forwarder: RoundRobinForwarder
  cleanup(): Promise<void>
}

function replicaYaml(o: {
  pebble: Pebble
  redis: RedisServer
  keyFile: string
  prefix: string
  host: string
  httpPort: number
  httpsPort: number
  readinessPort: number
  adminPort: number
  challenge: Challenge
}): string {
  const caBundle = Buffer.from(o.pebble.listenerCa).toString('base64')
  return `${gatewayConfigDoc({
    readinessPort: o.readinessPort,
    adminPort: o.adminPort,
    accessLog: false,
    extraSpec: [
      '  redis:',
      `    url: ${o.redis.url}`,
      `    keyPrefix: "${o.prefix}"`,
      '    acme:',
      `      encryptionKeyFile: ${o.keyFile}`,
      `      lockTtl: ${LOCK_TTL_MS}ms`,
    ],
  })}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: public
spec:
  servers:
  - port: {number: ${o.httpPort}, name: http, protocol: HTTP}
    hosts: [${o.host}]
  - port: {number: ${o.httpsPort}, name: https, protocol: HTTPS}
    hosts: [${o.host}]
    tls: {mode: SIMPLE, credentialName: fleet-tls}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: www
spec:
  hosts: [${o.host}]
  gateways: [public]
  http:
  - directResponse: {status: 200, body: {string: "hello from the fleet"}}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: pebble
spec:
  acme:
    server: ${o.pebble.directoryUrl}
    email: ops@acme.test
    caBundle: ${caBundle}
    privateKeySecretRef: {name: pebble-account}
    solvers:
    - ${o.challenge === 'http-01' ? 'http01' : 'tlsAlpn01'}: {}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: fleet
spec:
  secretName: fleet-tls
  dnsNames: [${o.host}]
  issuerRef: {name: pebble, kind: ClusterIssuer}
`
}

/** Three replicas behind a held forwarder on pebble's validation port for `challenge`. */
async function startFleet(
  pebble: Pebble,
  redis: RedisServer,
  keyFile: string,
  prefix: string,
  host: string,
  forwarderPort: number,
  challenge: Challenge = 'http-01',
): Promise<Fleet> {
  const ports = await freePorts(12)
  const httpPorts = ports.slice(0, 3)
  const httpsPorts = ports.slice(3, 6)
  const readiness = ports.slice(6, 9)
  const adminPorts = ports.slice(9, 12)
  const forwarder = await startRoundRobinForwarder(
    challenge === 'http-01' ? httpPorts : httpsPorts,
    forwarderPort,
  )
  forwarder.hold()
  const settled = await Promise.allSettled(
    [0, 1, 2].map((i) =>
      startGateway({
        // Readiness is awaited by the caller, next to watching for the order.
        waitForReady: false,
        yaml: replicaYaml({
          pebble,
          redis,
          keyFile,
          prefix,
          host,
          httpPort: httpPorts[i]!,
          httpsPort: httpsPorts[i]!,
          readinessPort: readiness[i]!,
          adminPort: adminPorts[i]!,
          challenge,
        }),
      }),
    ),
  )
  const gateways = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  const failed = settled.find((r) => r.status === 'rejected')
  if (failed !== undefined) {
    // A replica that does not start must not leave the others, or the port, behind.
    await Promise.all(gateways.map((g) => g.cleanup()))
    await forwarder.close()
    throw failed.reason
  }
  return {
    gateways,
    httpsPorts,
    adminPorts,
    forwarder,
    async cleanup() {
      await Promise.all(gateways.map((g) => g.cleanup()))
      await forwarder.close()
    },
  }
}

/**
 * The replica that places the order, once every replica is ready to answer the CA (readiness
 * follows the listeners). Three gateways start at once on a loaded machine: generous bound.
 */
async function holderWhenReady(fleet: Fleet): Promise<number> {
  const holder = firstToLog(fleet.gateways, /acme order created/, 90_000)
  await Promise.all(fleet.gateways.map((g) => g.waitForReady(90_000)))
  return holder
}

/** The index of the replica that logs `pattern` first. */
function firstToLog(gateways: GatewayProcess[], pattern: RegExp, timeoutMs: number) {
  return Promise.race(gateways.map((g, i) => g.waitForLine(pattern, timeoutMs).then(() => i)))
}

const countLines = (g: GatewayProcess, pattern: RegExp) =>
  g.output.filter((l) => pattern.test(l.line)).length

describe('ACME with three replicas and one Redis (pebble)', () => {
  let pebble: Pebble
  let redis: RedisServer
  let dir: string
  let keyFile: string
  let forwarderPort: number | undefined
  const fleets: Fleet[] = []

  before(async () => {
    ;[forwarderPort] = await freePorts(1)
    pebble = await startPebble({ httpPort: forwarderPort! })
    redis = await startRedisServer()
    dir = mkdtempSync(join(tmpdir(), 'portcullis-acme-fleet-'))
    keyFile = join(dir, 'acme-encryption.key')
    writeFileSync(keyFile, randomBytes(32).toString('base64'), { mode: 0o600 })
  })
  after(async () => {
    for (const f of fleets) await f.cleanup()
    await pebble?.stop()
    await redis?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  test('one order; another replica answers the challenge; all serve the same certificate', async (t) => {
    const host = 'www.fleet.test'
    const ordersBefore = pebble.orders()
    const fleet = await startFleet(pebble, redis, keyFile, 'one:', host, forwarderPort!)
    // The next test puts its own forwarder on pebble's validation port.
    t.after(() => fleet.cleanup())
    const holder = await holderWhenReady(fleet)
    // The CA's validation connections start at the next replica, which did not order.
    fleet.forwarder.release((holder + 1) % 3)
    await fleet.gateways[holder]!.waitForLine(/acme certificate issued/, 60_000)
    const root = await pebble.issuingRoot()
    const serials = await Promise.all(
      fleet.httpsPorts.map((port) => poll(() => verifiedSerial(port, host, root), 30_000)),
    )
    const validations = fleet.forwarder.log
    process.stdout.write(
      `# fleet: holder=${holder} serials=${serials.join(',')} orders=${pebble.orders() - ordersBefore} validations on replicas ${validations.map((v) => v.backend).join(',')}\n`,
    )
    assert.equal(new Set(serials).size, 1, 'every replica serves the same certificate')
    assert.equal(pebble.orders() - ordersBefore, 1, 'pebble saw exactly one order')
    // pebble validates from several perspectives, one connection each; the challenge turned
    // valid, so each replica reached answered it, and the first was not the holder.
    assert.ok(validations.length >= 1)
    for (const v of validations) assert.match(v.head, /^GET \/\.well-known\/acme-challenge\//)
    assert.notEqual(validations[0]!.backend, holder, 'a replica that did not order answered')
    assert.ok(new Set(validations.map((v) => v.backend)).size >= Math.min(3, validations.length))
    // Every replica's admin /certs lists the certificate: issuer, names, notAfter, renewal.
    for (const port of fleet.adminPorts) {
      const view = (await (await fetch(`http://127.0.0.1:${port}/certs?format=json`)).json()) as {
        acme?: {
          issuer: string
          dnsNames: string[]
          state: string
          serial?: string
          notAfter?: string
          renewAt?: string
        }[]
      }
      const c = view.acme?.[0]
      assert.equal(c?.issuer, 'ClusterIssuer/pebble')
      assert.deepEqual(c?.dnsNames, [host])
      assert.equal(c?.state, 'valid')
      assert.equal(c?.serial, serials[0])
      assert.ok(Date.parse(c?.renewAt ?? '') < Date.parse(c?.notAfter ?? ''))
    }
    fleet.gateways.forEach((g, i) => {
      assert.equal(countLines(g, /acme order created/), i === holder ? 1 : 0)
      if (i !== holder) assert.equal(countLines(g, /acme certificate installed/), 1)
    })
  })

  test('killing the lock holder mid-order: another replica finishes after the lease expires', async () => {
    const host = 'api.fleet.test'
    const ordersBefore = pebble.orders()
    const fleet = await startFleet(pebble, redis, keyFile, 'two:', host, forwarderPort!)
    fleets.push(fleet)
    const holder = await holderWhenReady(fleet)
    await fleet.gateways[holder]!.kill()
    const killedAt = Date.now()
    fleet.forwarder.remove(holder)
    fleet.forwarder.release()
    const survivors = fleet.gateways.filter((_, i) => i !== holder)
    const successor = await firstToLog(survivors, /acme certificate issued/, LOCK_TTL_MS + 30_000)
    const tookMs = Date.now() - killedAt
    const root = await pebble.issuingRoot()
    const serials = await Promise.all(
      fleet.httpsPorts
        .filter((_, i) => i !== holder)
        .map((port) => poll(() => verifiedSerial(port, host, root), 30_000)),
    )
    process.stdout.write(
      `# takeover: killed=${holder} issuedAfterMs=${tookMs} serials=${serials.join(',')} orders=${pebble.orders() - ordersBefore}\n`,
    )
    assert.equal(new Set(serials).size, 1)
    // The lease had to expire first; then one check interval and one order.
    assert.ok(tookMs <= LOCK_TTL_MS + 15_000, `issued ${tookMs} ms after the kill`)
    assert.equal(pebble.orders() - ordersBefore, 2, 'the abandoned order and the finished one')
    const line = survivors[successor]!.output.find((l) => /acme order lock acquired/.test(l.line))
    assert.match(line?.line ?? '', / fence=2\b/, 'the successor holds the second lease')
  })

  test('tls-alpn-01: one order; another replica answers on its TLS listener; all serve it', async (t) => {
    const host = 'alpn.fleet.test'
    const ordersBefore = pebble.orders()
    const fleet = await startFleet(
      pebble,
      redis,
      keyFile,
      'alpn:',
      host,
      pebble.tlsPort,
      'tls-alpn-01',
    )
    t.after(() => fleet.cleanup())
    const holder = await holderWhenReady(fleet)
    fleet.forwarder.release((holder + 1) % 3)
    await fleet.gateways[holder]!.waitForLine(/acme certificate issued/, 60_000)
    const root = await pebble.issuingRoot()
    const serials = await Promise.all(
      fleet.httpsPorts.map((port) => poll(() => verifiedSerial(port, host, root), 30_000)),
    )
    const validations = fleet.forwarder.log
    process.stdout.write(
      `# fleet tls-alpn-01: holder=${holder} serials=${serials.join(',')} orders=${pebble.orders() - ordersBefore} validations on replicas ${validations.map((v) => v.backend).join(',')}\n`,
    )
    assert.equal(new Set(serials).size, 1, 'every replica serves the same certificate')
    assert.equal(pebble.orders() - ordersBefore, 1, 'pebble saw exactly one order')
    // Every connection on pebble's tlsPort is the CA's: a TLS handshake (record type 22).
    assert.ok(validations.length >= 1)
    for (const v of validations) assert.equal(v.head.charCodeAt(0), 0x16)
    assert.notEqual(validations[0]!.backend, holder, 'a replica that did not order answered')
    assert.ok(new Set(validations.map((v) => v.backend)).size >= Math.min(3, validations.length))
    const valid = fleet.gateways[holder]!.output.find((l) => /acme challenge valid/.test(l.line))
    assert.match(valid?.line ?? '', /type=tls-alpn-01/)
    fleet.gateways.forEach((g, i) => {
      assert.equal(countLines(g, /acme order created/), i === holder ? 1 : 0)
      if (i !== holder) assert.equal(countLines(g, /acme certificate installed/), 1)
    })
  })
})
