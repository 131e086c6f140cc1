import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfigText } from '../config/index.js'
import { compile } from './compile.js'

function config(labels: string, sidecarNamespace = 'default', selector = '{app: b}'): string {
  return `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  labels: ${labels}
  outbound: {port: 3128, address: 127.0.0.1}
  outboundTrafficPolicy: {mode: ALLOW_ANY}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: restrict, namespace: ${sidecarNamespace}}
spec:
  workloadSelector:
    labels: ${selector}
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
`
}

function compileText(text: string) {
  const loaded = loadConfigText({ 'gateway.yaml': text })
  assert.deepEqual(
    loaded.diagnostics.filter((d) => d.severity === 'error'),
    [],
  )
  return compile(loaded.resources)
}

describe('Sidecar workloadSelector and namespace against this instance', () => {
  test('a Sidecar for app: b does not apply to a gateway labelled app: a', () => {
    const { snapshot, diagnostics } = compileText(config('{app: a}'))
    assert.equal(snapshot.egress?.policy.mode, 'ALLOW_ANY')
    const note = diagnostics.find((d) => d.code === 'PC2016')
    assert.equal(note?.path, 'spec.workloadSelector.labels')
    assert.match(note?.message ?? '', /does not match this instance's labels \{app: a\}/)
  })

  test('a matching selector applies', () => {
    const { snapshot, diagnostics } = compileText(config('{app: b, version: v1}'))
    assert.equal(snapshot.egress?.policy.mode, 'REGISTRY_ONLY')
    assert.ok(!diagnostics.some((d) => d.code === 'PC2016'))
  })

  test('a Sidecar of another namespace does not apply; one in istio-system without selector does', () => {
    const other = compileText(config('{app: b}', 'echo'))
    assert.equal(other.snapshot.egress?.policy.mode, 'ALLOW_ANY')
    assert.equal(other.diagnostics.find((d) => d.code === 'PC2016')?.path, 'metadata.namespace')
    const root = compileText(
      config('{app: b}', 'istio-system').replace('  workloadSelector:\n    labels: {app: b}\n', ''),
    )
    assert.equal(root.snapshot.egress?.policy.mode, 'REGISTRY_ONLY')
  })

  test('the Istio sample restrict-external-service applies only to app: a in echo', () => {
    const sample = `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  labels: {app: a}
  outbound: {port: 3128, address: 127.0.0.1, namespace: echo}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: restrict-external-service, namespace: echo}
spec:
  workloadSelector:
    labels:
      app: a
  outboundTrafficPolicy:
    mode: "REGISTRY_ONLY"
`
    assert.equal(compileText(sample).snapshot.egress?.policy.mode, 'REGISTRY_ONLY')
    const b = compileText(sample.replace('labels: {app: a}', 'labels: {app: b}'))
    assert.equal(b.snapshot.egress?.policy.mode, 'ALLOW_ANY')
  })
})
