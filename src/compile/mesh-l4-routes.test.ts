import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { loadConfigText } from '../config/index.js'
import { compile } from './index.js'

const SAMPLE = readFileSync(
  new URL('../../../shared/istio-samples/egress-gateway-tls-passthrough-cnn.yaml', import.meta.url),
  'utf8',
)
const OUTBOUND = `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  outbound: {port: 3128}
---
`

function compiled(text: string) {
  const loaded = loadConfigText({ 'gateway.yaml': text })
  return compile(loaded.resources)
}

test('mesh tls routes of the egress-gateway sample become the outbound side L4 routes', () => {
  const { snapshot, diagnostics } = compiled(OUTBOUND + SAMPLE)
  const routes = snapshot.egress?.meshL4Routes ?? []
  // Only the match bound to mesh; the istio-egressgateway one is the egress gateway's own.
  assert.deepEqual(
    routes.map((r) => [r.id, r.kind, r.port, r.hosts, r.destinations]),
    [
      [
        'default/direct-cnn-through-egress-gateway/tls[0]',
        'tls',
        443,
        ['edition.cnn.com'],
        [{ host: 'istio-egressgateway.istio-system.svc.cluster.local', port: 443, weight: 1 }],
      ],
    ],
  )
  // The egress gateway's Service is not registered in the sample: validate says so.
  const warned = diagnostics.filter((d) => d.code === 'PC2014')
  assert.equal(warned.length, 1)
  assert.match(
    warned[0]!.message,
    /istio-egressgateway\.istio-system\.svc\.cluster\.local is no ServiceEntry host/,
  )
})

test('without an outbound listener or SNI egress port, a mesh tls route is reported, not ignored', () => {
  const { snapshot, diagnostics } = compiled(SAMPLE)
  assert.equal(snapshot.egress?.outbound, undefined)
  const warned = diagnostics.filter((d) => d.code === 'PC2014')
  assert.equal(warned.length, 1)
  assert.match(warned[0]!.message, /has no effect here/)
})

test('mesh tcp routes match the VirtualService hosts on the match port', () => {
  const { snapshot } = compiled(`${OUTBOUND}apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db}
spec:
  hosts: [db.example.com, db-proxy.example.com]
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
  hosts: [db.example.com]
  tcp:
  - match: [{port: 5432}]
    route: [{destination: {host: db-proxy.example.com, port: {number: 5432}}}]
`)
  const routes = snapshot.egress?.meshL4Routes ?? []
  assert.deepEqual(
    routes.map((r) => [r.kind, r.port, r.hosts]),
    [['tcp', 5432, ['db.example.com']]],
  )
})
