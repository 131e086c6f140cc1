import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfigText } from '../config/index.js'
import { compile } from './compile.js'

const REVIEWS = `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: DNS
`

function gatewayConfig(outbound: string, extra = ''): string {
  return `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  outbound: ${outbound}
${extra}${REVIEWS}`
}

function load(text: string) {
  return loadConfigText({ 'gateway.yaml': text })
}

describe('outbound.ports', () => {
  test('port and ports open one listener each, port first; one port keeps the single-listener form', () => {
    const { snapshot, diagnostics } = compile(
      load(gatewayConfig('{address: 127.0.0.1, port: 3128, ports: [9080, 8000]}')).resources,
    )
    assert.deepEqual(
      diagnostics.filter((d) => d.severity === 'error'),
      [],
    )
    const egress = snapshot.egress!
    assert.deepEqual(egress.outbound, { id: '127.0.0.1:3128', address: '127.0.0.1', port: 3128 })
    assert.deepEqual(
      egress.outboundListeners?.map((l) => l.id),
      ['127.0.0.1:3128', '127.0.0.1:9080', '127.0.0.1:8000'],
    )
    const single = compile(load(gatewayConfig('{address: 127.0.0.1, ports: [9080]}')).resources)
    assert.equal(single.snapshot.egress?.outbound?.id, '127.0.0.1:9080')
    assert.equal(single.snapshot.egress?.outboundListeners, undefined)
  })

  test('neither port nor ports is a schema error', () => {
    const loaded = load(gatewayConfig('{address: 127.0.0.1}'))
    const d = loaded.diagnostics.find((x) => x.code === 'PC1103')
    assert.ok(d, JSON.stringify(loaded.diagnostics))
    assert.equal(d.path, 'spec.outbound.port')
    assert.match(d.message, /port or ports is required/)
  })

  test('a port given twice is PC1705 at the second, with its line', () => {
    const text = gatewayConfig(`
    address: 127.0.0.1
    port: 9080
    ports:
    - 8000
    - 9080`)
    const { snapshot, diagnostics } = compile(load(text).resources)
    const d = diagnostics.find((x) => x.code === 'PC1705')
    assert.ok(d, JSON.stringify(diagnostics))
    assert.equal(d.severity, 'error')
    assert.equal(d.path, 'spec.outbound.ports[1]')
    assert.equal(d.loc?.line, 10)
    assert.match(d.message, /already given at spec\.outbound\.port/)
    assert.deepEqual(
      snapshot.egress?.outboundListeners?.map((l) => l.port),
      [9080, 8000],
    )
  })

  test('a port a Gateway server, an SNI egress port or the admin port binds is PC1705', () => {
    const gateway = `---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: front}
spec:
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*"]
`
    const text = gatewayConfig(
      '{ports: [8080, 8443, 15000, 9080]}\n  egress: {sniPorts: [8443]}',
      gateway,
    )
    const { snapshot, diagnostics } = compile(load(text).resources)
    const clashes = diagnostics.filter((x) => x.code === 'PC1705')
    assert.deepEqual(
      clashes.map((d) => [d.path, d.loc?.line]),
      [
        ['spec.outbound.ports[0]', 5],
        ['spec.outbound.ports[1]', 5],
        ['spec.outbound.ports[2]', 5],
      ],
    )
    assert.match(clashes[0]!.message, /the Gateway listener 0\.0\.0\.0:8080/)
    assert.match(clashes[1]!.message, /an egress SNI port/)
    assert.match(clashes[2]!.message, /the admin port/)
    assert.equal(snapshot.egress?.outbound?.port, 9080)
  })
})
