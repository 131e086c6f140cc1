import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfigText } from '../config/index.js'
import { compile } from './compile.js'
import { alternativeNames, meshDomains } from './mesh-domains.js'

describe('outbound domains, as Istio generates them for a sidecar', () => {
  test('same namespace: short name, name.ns, name.ns.svc', () => {
    assert.deepEqual(alternativeNames('reviews.default.svc.cluster.local', 'default'), [
      'reviews',
      'reviews.default.svc',
      'reviews.default',
    ])
    assert.deepEqual(meshDomains('reviews.default.svc.cluster.local', 9080, 'default'), [
      'reviews.default.svc.cluster.local',
      'reviews.default.svc.cluster.local:9080',
      'reviews',
      'reviews:9080',
      'reviews.default.svc',
      'reviews.default.svc:9080',
      'reviews.default',
      'reviews.default:9080',
    ])
  })

  test('another namespace: never the bare name', () => {
    assert.deepEqual(alternativeNames('reviews.default.svc.cluster.local', 'bookinfo'), [
      'reviews.default',
      'reviews.default.svc',
    ])
  })

  test('names outside the cluster domain have no alternatives', () => {
    assert.deepEqual(alternativeNames('httpbin.org', 'default'), [])
    assert.deepEqual(alternativeNames('*.wikipedia.org', 'default'), [])
    // Istio reads everything between the first label and `.svc` as the namespace.
    assert.deepEqual(alternativeNames('a.b.c.svc.cluster.local', 'default'), ['a.b.c', 'a.b.c.svc'])
    assert.deepEqual(meshDomains('*.wikipedia.org', 443, 'default'), [
      '*.wikipedia.org',
      '*.wikipedia.org:443',
    ])
  })
})

const CONFIG = `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  outbound: {port: 3128, address: 127.0.0.1, namespace: bookinfo}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews.bookinfo.svc.cluster.local]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: foo-redirect}
spec:
  hosts: [example.com]
  http:
  - redirect: {authority: foo.example.com}
`

describe('outbound route tables', () => {
  const loaded = loadConfigText({ 'gateway.yaml': CONFIG })
  const { snapshot, diagnostics } = compile(loaded.resources)
  const egress = snapshot.egress!

  test('config_dump domains list every name with and without the port', () => {
    const vh = egress.routeTables['9080']?.virtualHosts.find(
      (v) => v.name === 'reviews.bookinfo.svc.cluster.local:9080',
    )
    assert.deepEqual(
      vh?.domains,
      meshDomains('reviews.bookinfo.svc.cluster.local', 9080, 'bookinfo'),
    )
    assert.equal(egress.meshAliases?.['reviews'], 'reviews.bookinfo.svc.cluster.local')
  })

  test('an unbacked mesh host is on port 80 only, with a validate note', () => {
    assert.deepEqual(egress.unbackedHosts, ['example.com:80'])
    assert.ok(egress.routeTables['80']?.virtualHosts.some((v) => v.name === 'example.com:80'))
    assert.ok(!egress.routeTables['9080']?.virtualHosts.some((v) => v.name === 'example.com:9080'))
    const note = diagnostics.find((d) => d.code === 'PC2015')
    assert.equal(note?.severity, 'warning')
    assert.equal(note?.path, 'spec.hosts[0]')
    assert.match(note?.message ?? '', /port 80 only/)
    assert.ok(note?.loc?.line !== undefined && note.loc.line > 0)
  })
})

test('a wildcard mesh host covering a registered host is backed: served on its ports', () => {
  const text = `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  outbound: {port: 3128, address: 127.0.0.1}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.example.com]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: wild}
spec:
  hosts: ["*.example.com"]
  http:
  - route: [{destination: {host: api.example.com}}]
`
  const { snapshot, diagnostics } = compile(loadConfigText({ 'gateway.yaml': text }).resources)
  assert.ok(!diagnostics.some((d) => d.code === 'PC2015'))
  assert.equal(snapshot.egress?.unbackedHosts, undefined)
  assert.ok(
    snapshot.egress?.routeTables['8080']?.virtualHosts.some((v) => v.name === '*.example.com:8080'),
  )
})
