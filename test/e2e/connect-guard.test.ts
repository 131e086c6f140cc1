// CONNECT heads go through the same request guard as every other request on the outbound
// listener: a target that is not authority-form `host:port` (port 1–65535), header blocks over
// the size or count limits, and underscore header names are refused with the guard's status,
// recorded under the outbound listener, and never reach an upstream. A well-formed CONNECT to
// the same registered destination is tunnelled.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { compile } from '../../src/compile/index.js'
import { loadConfigText } from '../../src/config/index.js'
import { silentLogger } from '../../src/lib/index.js'
import type { RequestRecord } from '../../src/observe/events.js'
import { createOutboundProxy } from '../../src/dataplane/egress/outbound-proxy.js'
import { createHttpHandler } from '../../src/dataplane/http/handler.js'
import { prepareSnapshot, releaseSnapshot } from '../../src/dataplane/http/prepare-snapshot.js'
import { createUpstreamRegistry } from '../../src/dataplane/upstream/registry.js'
import { closedPort } from '../support/http-harness.js'

/** Writes `head` as-is and resolves with what came back before the socket closed (or 3 s). */
function sendHead(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(head))
    let text = ''
    s.setEncoding('latin1')
    const done = (): void => {
      clearTimeout(timer)
      s.destroy()
      resolve(text)
    }
    const timer = setTimeout(done, 3000)
    s.on('data', (d: string) => {
      text += d
      if (/^HTTP\/1\.1 200[^\r]*\r\n\r\n/.test(text)) done()
    })
    s.on('close', done)
    s.on('error', reject)
  })
}

test('CONNECT heads the request guard refuses never reach the upstream', async (t) => {
  let accepted = 0
  const sockets = new Set<Socket>()
  const upstream = createServer((s) => {
    accepted++
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  t.after(() => {
    for (const s of sockets) s.destroy()
    upstream.close()
  })
  const upstreamPort = (upstream.address() as AddressInfo).port
  const proxyPort = await closedPort()
  const yaml = `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  outbound: {port: ${proxyPort}, address: 127.0.0.1}
  outboundTrafficPolicy: {mode: REGISTRY_ONLY, allowPrivateAddresses: true}
  downstream: {maxHeaderBytes: 4096, maxHeaderCount: 20}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.example.test]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {tls: ${upstreamPort}}}]
`
  const loaded = loadConfigText({ 'gateway.yaml': yaml })
  assert.deepEqual(
    loaded.diagnostics.filter((d) => d.severity === 'error'),
    [],
  )
  const { snapshot } = compile(loaded.resources)
  const records: RequestRecord[] = []
  const observer = { onRequestComplete: (r: RequestRecord) => records.push(r) }
  const registry = createUpstreamRegistry({ log: silentLogger })
  const prepared = prepareSnapshot(snapshot, registry)
  const handler = createHttpHandler({ observer, log: silentLogger, upstreams: registry })
  const proxy = createOutboundProxy({ handler, observer, log: silentLogger })
  proxy.activate(await proxy.prepare(prepared))
  t.after(async () => {
    await proxy.close()
    releaseSnapshot(prepared, registry)
    await registry.close()
  })

  const big = 'x'.repeat(5000)
  const many = Array.from({ length: 25 }, (_, i) => `X-H${i}: v\r\n`).join('')
  const cases: readonly (readonly [string, string, number, string])[] = [
    [
      'origin-form target',
      'CONNECT /x HTTP/1.1\r\nHost: api.example.test\r\n\r\n',
      400,
      'http1.invalid_url',
    ],
    [
      'port out of range',
      'CONNECT api.example.test:99999 HTTP/1.1\r\n\r\n',
      400,
      'http1.invalid_url',
    ],
    ['no port', 'CONNECT api.example.test HTTP/1.1\r\n\r\n', 400, 'http1.invalid_url'],
    ['port 0', 'CONNECT api.example.test:0 HTTP/1.1\r\n\r\n', 400, 'http1.invalid_url'],
    ['userinfo', 'CONNECT u@api.example.test:443 HTTP/1.1\r\n\r\n', 400, 'http1.invalid_url'],
    [
      'header block over maxHeaderBytes',
      `CONNECT api.example.test:443 HTTP/1.1\r\nX-Big: ${big}\r\n\r\n`,
      431,
      'http1.headers_too_large',
    ],
    [
      'more headers than maxHeaderCount',
      `CONNECT api.example.test:443 HTTP/1.1\r\n${many}\r\n`,
      431,
      'http1.too_many_headers',
    ],
    [
      'underscore header name',
      'CONNECT api.example.test:443 HTTP/1.1\r\nX_Forwarded: a\r\n\r\n',
      400,
      'http.unexpected_underscore',
    ],
    [
      'two Host headers',
      'CONNECT api.example.test:443 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
      400,
      'http1.multiple_host_headers',
    ],
  ]
  for (const [name, head, status, details] of cases) {
    const reply = await sendHead(proxyPort, head)
    assert.match(reply, new RegExp(`^HTTP/1\\.1 ${status} `), name)
    const deadline = Date.now() + 2000
    while (!records.some((r) => r.responseCodeDetails === details) && Date.now() < deadline) {
      await new Promise((r) => setImmediate(r))
    }
    const rec = records.find((r) => r.responseCodeDetails === details)
    assert.equal(rec?.status, status, `${name}: recorded`)
    assert.equal(rec?.responseFlags, 'DPE', name)
  }
  assert.equal(accepted, 0, 'no refused CONNECT reached the upstream')

  // The same destination, well formed: tunnelled.
  const ok = await sendHead(
    proxyPort,
    'CONNECT api.example.test:443 HTTP/1.1\r\nHost: api.example.test:443\r\n\r\n',
  )
  assert.match(ok, /^HTTP\/1\.1 200 /)
  const deadline = Date.now() + 3000
  while (accepted === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  assert.equal(accepted, 1)
})
