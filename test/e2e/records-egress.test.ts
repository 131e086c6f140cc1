// The outbound proxy's own lines (direct forwards and CONNECT tunnels) carry what a routed
// request's line carries: the real byte counts, a request id, both downstream addresses (read
// while the connection was open, so never `:0`), IPv6 addresses in brackets. Over IPv6 loopback
// with a real upstream and raw clients.
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { test, type TestContext } from 'node:test'
import { closedPort } from '../support/http-harness.js'
import { startRecordedGateway } from '../support/record-kit.js'

const BODY = Buffer.alloc(193, 'b')

async function ipv6Upstream(t: TestContext): Promise<number> {
  const server: Server = createServer((req, res) => {
    req.resume()
    req.on('end', () => res.writeHead(200, { 'content-length': BODY.length }).end(BODY))
  })
  await new Promise<void>((resolve) => server.listen(0, '::1', resolve))
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return (server.address() as AddressInfo).port
}

/** Writes `bytes` to the proxy on [::1], reads until close; returns the reply and client port. */
function exchange(
  port: number,
  bytes: string,
  then?: string,
): Promise<{ reply: string; clientPort: number }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '::1', () => s.write(bytes))
    let reply = ''
    let clientPort = 0
    let sent = false
    s.once('connect', () => (clientPort = s.localPort ?? 0))
    s.setEncoding('latin1')
    s.on('data', (d: string) => {
      reply += d
      if (then !== undefined && !sent && reply.includes('\r\n\r\n')) {
        sent = true
        s.write(then)
      }
    })
    s.on('error', reject)
    s.on('close', () => resolve({ reply, clientPort }))
    s.setTimeout(10_000, () => s.destroy(new Error('no close within 10 s')))
  })
}

test('outbound proxy lines: real bytes, a request id, bracketed IPv6, the local address of CONNECT', async (t) => {
  const upstreamPort = await ipv6Upstream(t)
  const proxyPort = await closedPort()
  const gw = await startRecordedGateway(t, {
    yaml: `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  outbound: {port: ${proxyPort}, address: "::1"}
  outboundTrafficPolicy: {mode: ALLOW_ANY, allowPrivateAddresses: true}
`,
  })
  const target = `[::1]:${upstreamPort}`

  // Absolute-form HTTP to a destination no route table knows: forwarded directly (passthrough).
  const direct = await exchange(
    proxyPort,
    `GET http://${target}/x HTTP/1.1\r\nHost: ${target}\r\nConnection: close\r\n\r\n`,
  )
  assert.match(direct.reply, /^HTTP\/1\.1 200/)
  assert.ok(direct.reply.endsWith(BODY.toString('latin1')))
  const [forwarded] = await gw.waitForLines((l) => l['method'] === 'GET')
  assert.ok(forwarded !== undefined, JSON.stringify(await gw.lines()))
  assert.equal(forwarded['bytes_sent'], 193)
  assert.equal(forwarded['bytes_received'], 0)
  assert.equal(forwarded['protocol'], 'HTTP/1.1')
  assert.equal(forwarded['upstream_host'], `[::1]:${upstreamPort}`)
  assert.equal(forwarded['upstream_cluster'], 'PassthroughCluster')
  assert.equal(forwarded['downstream_remote_address'], `[::1]:${direct.clientPort}`)
  assert.equal(forwarded['downstream_local_address'], `[::1]:${proxyPort}`)
  assert.match(String(forwarded['request_id']), /^[0-9a-f-]{36}$/)

  // CONNECT: the line is written after the tunnel closed, with the addresses read at arrival.
  const request = `GET /t HTTP/1.1\r\nHost: ${target}\r\nConnection: close\r\n\r\n`
  const tunnel = await exchange(
    proxyPort,
    `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\nx-request-id: tunnel-1\r\n\r\n`,
    request,
  )
  assert.match(tunnel.reply, /^HTTP\/1\.1 200 Connection Established/)
  const [connected] = await gw.waitForLines((l) => l['method'] === 'CONNECT')
  assert.ok(connected !== undefined, JSON.stringify(await gw.lines()))
  assert.equal(connected['downstream_local_address'], `[::1]:${proxyPort}`)
  assert.equal(connected['downstream_remote_address'], `[::1]:${tunnel.clientPort}`)
  assert.equal(connected['upstream_host'], `[::1]:${upstreamPort}`)
  assert.equal(connected['request_id'], 'tunnel-1')
  assert.equal(connected['bytes_received'], Buffer.byteLength(request))
  const upstreamReply = tunnel.reply.slice(tunnel.reply.indexOf('\r\n\r\n') + 4)
  assert.equal(connected['bytes_sent'], Buffer.byteLength(upstreamReply, 'latin1'))
})
