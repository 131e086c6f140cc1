import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfigText } from '../config/index.js'
import { formatDiagnostic } from '../diag/index.js'
import { compile } from './compile.js'

const BASE = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: default}
spec:
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ['*']}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: default}
spec:
  hosts: ['*']
  gateways: [web]
  http:
  - name: api
    match: [{uri: {prefix: /api}}]
    directResponse: {status: 200}
  - name: rest
    directResponse: {status: 200}
---
`

function load(policy: string) {
  const loaded = loadConfigText({ 'gateway.yaml': BASE + policy })
  return loaded
}

function diagLines(policy: string): string[] {
  const loaded = load(policy)
  const compiled = compile(loaded.resources)
  return [...loaded.diagnostics, ...compiled.diagnostics].map((d) => formatDiagnostic(d))
}

describe('RateLimitPolicy', () => {
  test('compiles the issue example: Gateway target, match, by, limit, defaults', () => {
    const loaded = load(`apiVersion: portcullis.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: api, namespace: default}
spec:
  targetRefs:
  - {kind: Gateway, name: web}
  rules:
  - match: [{uri: {prefix: /api}}]
    by: [clientIp, 'header:x-tenant']
    limit: {requests: 100, unit: minute}
`)
    assert.deepEqual(loaded.diagnostics, [])
    const { snapshot, diagnostics } = compile(loaded.resources)
    assert.deepEqual(diagnostics, [])
    const [policy] = snapshot.rateLimits ?? []
    assert.ok(policy)
    assert.equal(policy.id, 'default/api')
    assert.equal(policy.failureMode, 'open')
    assert.equal(policy.shadow, false)
    assert.deepEqual(policy.routes, ['default/app/http[0]', 'default/app/http[1]'])
    const [rule] = policy.rules
    assert.equal(rule?.requests, 100)
    assert.equal(rule?.periodMs, 60_000)
    assert.deepEqual(rule?.by, [{ kind: 'clientIp' }, { kind: 'header', name: 'x-tenant' }])
    assert.deepEqual(rule?.match[0]?.uri, { kind: 'prefix', value: '/api' })
  })

  test('sectionName picks one named route of a VirtualService', () => {
    const loaded = load(`apiVersion: portcullis.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: api}
spec:
  targetRefs: [{kind: VirtualService, name: app, sectionName: rest}]
  rules: [{limit: {requests: 5, unit: second}}]
  failureMode: closed
  shadow: true
`)
    const { snapshot } = compile(loaded.resources)
    const policy = snapshot.rateLimits?.[0]
    assert.deepEqual(policy?.routes, ['default/app/http[1]'])
    assert.equal(policy?.failureMode, 'closed')
    assert.equal(policy?.shadow, true)
  })

  test('no policy: the snapshot has no rateLimits (and its hash does not change)', () => {
    const loaded = load('')
    assert.equal(compile(loaded.resources).snapshot.rateLimits, undefined)
  })

  test('schema errors point at file:line with the field path', () => {
    const lines = diagLines(`apiVersion: portcullis.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: bad}
spec:
  targetRefs: [{kind: Gateway, name: web, sectionName: api}]
  rules:
  - by: [clientIP]
    limit: {requests: 0, unit: week}
  - match: [{port: 80}]
    limit: {requests: 1, unit: second}
  failureMode: deny
`)
    const text = lines.join('\n')
    assert.match(text, /gateway\.yaml:24:\d+ error PC1801 .*spec\.targetRefs\[0\]\.sectionName/)
    assert.match(text, /gateway\.yaml:26:\d+ error PC1104 .*spec\.rules\[0\]\.by\[0\]: "clientIP"/)
    assert.match(text, /gateway\.yaml:27:\d+ error PC1105 .*spec\.rules\[0\]\.limit\.requests/)
    assert.match(text, /gateway\.yaml:27:\d+ error PC1104 .*spec\.rules\[0\]\.limit\.unit: "week"/)
    assert.match(text, /gateway\.yaml:28:\d+ error PC1802 .*spec\.rules\[1\]\.match\[0\]\.port/)
    assert.match(text, /gateway\.yaml:30:\d+ error PC1104 .*spec\.failureMode: "deny"/)
  })

  test('targets that resolve to nothing are warnings', () => {
    const text = diagLines(`apiVersion: portcullis.io/v1alpha1
kind: RateLimitPolicy
metadata: {name: lost}
spec:
  targetRefs:
  - {kind: Gateway, name: nope}
  - {kind: VirtualService, name: app, sectionName: missing}
  - {kind: VirtualService, name: app, namespace: other}
  rules: [{limit: {requests: 1, unit: second}}]
`).join('\n')
    assert.match(text, /warning PC2008 .*targetRefs\[0\]: Gateway default\/nope does not exist/)
    assert.match(text, /warning PC2009 .*targetRefs\[1\]\.sectionName: .*"missing"/)
    assert.match(text, /warning PC2008 .*targetRefs\[2\]: VirtualService other\/app/)
  })
})
