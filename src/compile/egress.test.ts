import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfigText } from '../config/index.js'
import { compileEgressMatcher, decideEgress, checkEgressAddress } from '../match/index.js'
import { compile } from './compile.js'

const BASE = `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  outbound: {port: 3128, address: 127.0.0.1}
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.example.test]
  ports: [{number: 80, name: http, protocol: HTTP}, {number: 443, name: tls, protocol: TLS}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wild}
spec:
  hosts: ["*.example.test"]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DYNAMIC_DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: internal}
spec:
  hosts: [db.internal.test]
  addresses: [10.1.0.0/16]
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  resolution: NONE
`

function compileText(text: string) {
  const loaded = loadConfigText({ 'gateway.yaml': text })
  const errors = loaded.diagnostics.filter((d) => d.severity === 'error')
  assert.deepEqual(errors, [])
  return compile(loaded.resources)
}

function matcher(text: string) {
  const { snapshot } = compileText(text)
  assert.ok(snapshot.egress)
  return compileEgressMatcher(snapshot.egress)
}

describe('egress registry and policy', () => {
  test('REGISTRY_ONLY admits registered host and port, refuses the rest with a reason', () => {
    const m = matcher(BASE)
    assert.equal(decideEgress(m, 'API.example.test.', 80).verdict, 'allowed')
    assert.equal(decideEgress(m, 'api.example.test', 443).cluster, 'outbound|443||api.example.test')
    const wrongPort = decideEgress(m, 'api.example.test', 8080)
    assert.deepEqual([wrongPort.verdict, wrongPort.reason], ['denied', 'port_not_registered'])
    assert.equal(wrongPort.cluster, 'BlackHoleCluster')
    const unknown = decideEgress(m, 'evil.test', 443)
    assert.deepEqual([unknown.verdict, unknown.reason], ['denied', 'host_not_registered'])
  })

  test('a wildcard covers subdomains, not the bare domain; the most specific entry wins', () => {
    const m = matcher(BASE)
    assert.equal(decideEgress(m, 'a.example.test', 443).cluster, 'outbound|443||*.example.test')
    assert.equal(decideEgress(m, 'example.test', 443).reason, 'host_not_registered')
    // api.example.test has its own entry; the wildcard's port 443 does not widen port 80 rules.
    assert.equal(decideEgress(m, 'b.example.test', 80).reason, 'port_not_registered')
  })

  test('IP literals pass only when an entry lists the address; private ranges are named', () => {
    const m = matcher(BASE)
    assert.equal(decideEgress(m, '10.1.2.3', 5432).verdict, 'allowed')
    assert.equal(decideEgress(m, '[::ffff:10.1.2.3]', 5432).verdict, 'allowed')
    assert.equal(decideEgress(m, '10.1.2.3', 22).reason, 'private_address')
    assert.equal(decideEgress(m, '169.254.169.254', 80).reason, 'private_address')
    assert.equal(decideEgress(m, '[::1]', 80).reason, 'private_address')
    assert.equal(decideEgress(m, '93.184.216.34', 80).reason, 'ip_not_registered')
  })

  test('a registered name that resolves into a private range is refused unless listed', () => {
    const m = matcher(BASE)
    const d = decideEgress(m, 'api.example.test', 80)
    assert.equal(checkEgressAddress(m, d, '203.0.113.7'), d)
    assert.equal(checkEgressAddress(m, d, '127.0.0.1').reason, 'private_address')
    const open = matcher(
      BASE.replace('{mode: REGISTRY_ONLY}', '{mode: REGISTRY_ONLY, allowPrivateAddresses: true}'),
    )
    const d2 = decideEgress(open, 'api.example.test', 80)
    assert.equal(checkEgressAddress(open, d2, '127.0.0.1').verdict, 'allowed')
  })

  test('ALLOW_ANY passes unknown destinations as PassthroughCluster; audit records would-be denials', () => {
    const any = matcher(BASE.replace('{mode: REGISTRY_ONLY}', '{mode: ALLOW_ANY}'))
    const d = decideEgress(any, 'unknown.test', 443)
    assert.deepEqual([d.verdict, d.cluster], ['passthrough', 'PassthroughCluster'])
    const audit = matcher(
      BASE.replace('{mode: REGISTRY_ONLY}', '{mode: REGISTRY_ONLY, enforcement: audit}'),
    )
    const a = decideEgress(audit, 'unknown.test', 443)
    assert.deepEqual([a.verdict, a.reason], ['audited', 'host_not_registered'])
  })

  test('a Sidecar overrides the mode and its egress hosts narrow the registry', () => {
    const text = `${BASE.replace('{mode: REGISTRY_ONLY}', '{mode: ALLOW_ANY}')}---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
spec:
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
  egress:
  - hosts: ["*/api.example.test"]
`
    const m = matcher(text)
    assert.equal(m.egress.policy.mode, 'REGISTRY_ONLY')
    assert.equal(decideEgress(m, 'api.example.test', 80).verdict, 'allowed')
    assert.equal(decideEgress(m, 'a.example.test', 443).reason, 'outside_sidecar_scope')
  })

  test('mesh-bound VirtualServices and registered hosts get outbound route tables per port', () => {
    const text = `${BASE}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api-timeout}
spec:
  hosts: [api.example.test]
  http:
  - timeout: 2s
    route: [{destination: {host: api.example.test, port: {number: 80}}}]
`
    const { snapshot, diagnostics } = compileText(text)
    assert.ok(
      !diagnostics.some((d) => d.code === 'PC2004'),
      'the VS is bound to the outbound listener',
    )
    const egress = snapshot.egress!
    assert.equal(egress.outbound?.id, '127.0.0.1:3128')
    const table = egress.routeTables['80']!
    assert.deepEqual(
      table.virtualHosts.map((v) => v.name),
      ['api.example.test:80'],
    )
    assert.equal(table.virtualHosts[0]!.routes[0]!.timeoutMs, 2000)
    assert.ok(snapshot.clusters['outbound|80||api.example.test'])
  })

  test('a ServiceEntry alone yields a default route; configs without egress keep no egress part', () => {
    const { snapshot } = compileText(BASE)
    const vh = snapshot.egress!.routeTables['80']!.virtualHosts
    assert.deepEqual(
      vh.map((v) => v.name),
      ['api.example.test:80'],
    )
    const plain = compileText(BASE.split('---').slice(1).join('---'))
    assert.equal(plain.snapshot.egress, undefined)
  })
})
