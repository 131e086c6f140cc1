// Refused mTLS clients through the real gateway process (hardening.md §4.3): no certificate,
// another CA, expired, not yet valid, revoked, wrong purpose — on TLS 1.2 and 1.3. Each gets no
// HTTP byte and a closed connection (tls-matrix.test.ts covers that side in depth); here: each
// is logged once with the SNI, the reason and the client's subject, and counted in
// portcullis_downstream_tls_handshake_failures_total{listener,reason}; a flood is counted in full
// but logged a bounded number of times.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { connect } from 'node:tls'
import { createCa, createCrl, issueCertificate, type Pem } from '../../src/cli/cert-forge.js'
import { metricSum } from './harness/edge-gateway.js'
import {
  freePorts,
  gatewayConfigDoc,
  request,
  startGateway,
  startUpstream,
  type GatewayProcess,
  type Upstream,
} from './harness/index.js'

const DAY_MS = 86_400_000
const SNI = 'mtls.example.com'
const FAILURES = 'portcullis_downstream_tls_handshake_failures_total'

interface Outcome {
  status: number | undefined
  isClosed: boolean
}

/** One HTTP/1.1 request over a new TLS connection; what came back before the server closed. */
function tlsRequest(
  port: number,
  ca: string,
  version: 'TLSv1.2' | 'TLSv1.3',
  client?: Pem,
): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      servername: SNI,
      ca,
      minVersion: version,
      maxVersion: version,
      ALPNProtocols: ['http/1.1'],
      ...(client !== undefined ? { cert: client.cert, key: client.key } : {}),
    })
    let data = ''
    let isClosed = true
    const timer = setTimeout(() => {
      isClosed = false
      socket.destroy()
    }, 5000)
    socket.on('secureConnect', () =>
      socket.write(`GET / HTTP/1.1\r\nHost: ${SNI}\r\nConnection: close\r\n\r\n`),
    )
    socket.setEncoding('latin1')
    socket.on('data', (d: string) => (data += d))
    socket.on('error', () => undefined)
    socket.on('close', () => {
      clearTimeout(timer)
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data)
      resolve({ status: m ? Number(m[1]) : undefined, isClosed })
    })
  })
}

describe('mTLS handshake failures are logged and counted (e2e)', () => {
  const ca = createCa('mtls CA')
  const otherCa = createCa('unknown CA')
  const server = issueCertificate(ca, { hosts: [SNI] })
  const client = (
    issuer: Pem,
    name: string,
    extra: Partial<Parameters<typeof issueCertificate>[1]> = {},
  ) =>
    issueCertificate(issuer, {
      hosts: [],
      uris: [`spiffe://example/sa/${name}`],
      client: true,
      ...extra,
    })
  const good = client(ca, 'good')
  const revoked = client(ca, 'revoked')
  const cases: Array<{ name: string; cert: Pem | undefined; reason: string; subject?: string }> = [
    { name: 'no client certificate', cert: undefined, reason: 'no_client_cert' },
    {
      name: 'a certificate from an unknown CA',
      cert: client(otherCa, 'stranger'),
      reason: 'unknown_ca',
    },
    {
      name: 'an expired certificate',
      cert: client(ca, 'expired', { notBefore: new Date(Date.now() - 10 * DAY_MS), days: 2 }),
      reason: 'cert_expired',
    },
    {
      name: 'a certificate not valid yet',
      cert: client(ca, 'later', { notBefore: new Date(Date.now() + 10 * DAY_MS) }),
      reason: 'cert_not_yet_valid',
    },
    { name: 'a revoked certificate', cert: revoked, reason: 'cert_revoked' },
    {
      // extendedKeyUsage serverAuth only: not for a TLS client.
      name: 'a certificate for the wrong purpose',
      cert: issueCertificate(ca, { hosts: ['server-only.example.com'] }),
      reason: 'bad_purpose',
    },
  ]
  let gw: GatewayProcess
  let up: Upstream
  let port: number
  let metricsPort: number

  const failures = async (reason: string): Promise<number> => {
    const res = await request(`http://127.0.0.1:${metricsPort}/stats/prometheus`)
    return metricSum(res.text, FAILURES, { listener: `127.0.0.1:${port}`, reason })
  }

  const waitForCount = async (reason: string, atLeast: number): Promise<void> => {
    const deadline = Date.now() + 10_000
    for (let i = 0; i < 200; i++) {
      if ((await failures(reason)) >= atLeast) return
      if (Date.now() > deadline) break
      await new Promise((r) => setTimeout(r, 50))
    }
    assert.fail(`${FAILURES}{reason="${reason}"} did not reach ${atLeast}`)
  }

  before(async () => {
    const [p, readiness, metrics] = await freePorts(3)
    port = p!
    metricsPort = metrics!
    up = await startUpstream({ name: 'echo' })
    const yaml = `${gatewayConfigDoc({ readinessPort: readiness!, metricsPort, accessLog: false })}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  servers:
    - port: { number: ${port}, name: https-mtls, protocol: HTTPS }
      hosts: [${SNI}]
      tls: { mode: MUTUAL, credentialName: mtls }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web }
spec:
  hosts: [${SNI}]
  gateways: [edge]
  http:
    - route: [{ destination: { host: echo.test } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: echo }
spec:
  hosts: [echo.test]
  ports: [{ number: ${up.port}, name: http, protocol: HTTP }]
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1 }]
`
    gw = await startGateway({
      yaml,
      files: {
        'certs/mtls/tls.crt': server.cert,
        'certs/mtls/tls.key': server.key,
        'certs/mtls/ca.crt': ca.cert,
        'certs/mtls/ca.crl': createCrl(ca, [new X509Certificate(revoked.cert).serialNumber]),
      },
    })
  })

  after(async () => {
    await gw?.cleanup()
    await up?.close()
  })

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    test(`${version}: a good client certificate is served`, async () => {
      const r = await tlsRequest(port, ca.cert, version, good)
      assert.equal(r.status, 200)
    })

    for (const c of cases) {
      test(`${version}: ${c.name} → no HTTP, closed, logged and counted as ${c.reason}`, async () => {
        const before = await failures(c.reason)
        const mark = gw.mark()
        const r = await tlsRequest(port, ca.cert, version, c.cert)
        assert.equal(r.status, undefined, 'an HTTP response came back')
        assert.ok(r.isClosed, 'the connection was not closed')
        await waitForCount(c.reason, before + 1)
        const line = await gw.waitForLine(
          new RegExp(`TLS handshake failed .*reason=${c.reason}\\b`),
          10_000,
          { since: mark },
        )
        assert.match(line, new RegExp(`sni=${SNI.replace(/\./g, '\\.')}`))
        assert.match(line, new RegExp(`listener=127\\.0\\.0\\.1:${port}`))
        if (c.cert !== undefined) {
          const cn = new X509Certificate(c.cert.cert).subject.split('\n').pop()!
          assert.ok(line.includes(`subject=${cn}`) || line.includes(`subject="${cn}`), line)
        } else {
          assert.doesNotMatch(line, /subject=/)
        }
      })
    }
  }

  test('a flood of refused clients is counted in full and logged a few times only', async () => {
    const before = await failures('no_client_cert')
    const mark = gw.mark()
    const count = 25
    for (let i = 0; i < count; i++) {
      const r = await tlsRequest(port, ca.cert, 'TLSv1.3')
      assert.equal(r.status, undefined)
    }
    await waitForCount('no_client_cert', before + count)
    const lines = gw.output
      .slice(mark)
      .filter((l) => /TLS handshake failed .*reason=no_client_cert/.test(l.line))
    assert.ok(lines.length <= 5, `${lines.length} log lines for ${count} refusals`)
    const r = await tlsRequest(port, ca.cert, 'TLSv1.3', good)
    assert.equal(r.status, 200)
  })
})
