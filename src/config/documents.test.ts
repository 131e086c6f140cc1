import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { formatDiagnosticsText } from '../diag/index.js'
import { parseFast } from './fast-yaml.js'
import { loadConfigText } from './index.js'

// A tenant file with three problems at different depths: an unknown field (located at its key),
// a wrong type six levels down (deeper than the position index), a destination no ServiceEntry
// names (a check across resources, located through the kept resource's Origin).
const TENANT = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: tenant-1
spec:
  hosts: [t1.tenants.example.com]
  gateways: [edge]
  http:
    - name: api
      match:
        - uri:
            prefix: /api/
          colour: blue
      route:
        - destination:
            host: backend-0.upstream.test
            port:
              number: eighty
    - name: default
      route:
        - destination:
            host: nowhere.test
`
const BASE = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: edge
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 8080, name: http, protocol: HTTP}
      hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: backend-0
spec:
  hosts: [backend-0.upstream.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
    - {number: 80, name: http, protocol: HTTP}
  endpoints:
    - address: 127.0.0.1
`
// A tab in a trailing comment: the same documents and lines, but outside the fast path.
const FULL_PARSE_ONLY = '# \t\n'

describe('documents read by the fast path', () => {
  it('take the files of this test (else it would compare the full parse with itself)', () => {
    assert.notEqual(parseFast(TENANT), undefined)
    assert.notEqual(parseFast(BASE), undefined)
    assert.equal(parseFast(TENANT + FULL_PARSE_ONLY), undefined)
  })

  it('report every config error with the file, line, field and why', () => {
    const { diagnostics } = loadConfigText({ 'base.yaml': BASE, 'tenant-1.yaml': TENANT })
    const find = (path: string) => diagnostics.find((d) => d.path === path)
    const unknown = find('spec.http[0].match[0].colour')
    assert.equal(unknown?.loc?.file, 'tenant-1.yaml')
    assert.equal(unknown?.loc?.line, 13)
    assert.equal(unknown?.loc?.col, 11)
    assert.match(unknown?.message ?? '', /colour/)
    const wrongType = find('spec.http[0].route[0].destination.port.number')
    assert.equal(wrongType?.loc?.line, 18)
    assert.equal(wrongType?.loc?.col, 23)
    assert.equal(wrongType?.severity, 'error')
  })

  it('report what the full parse reports, at the same places', () => {
    const fast = loadConfigText({ 'base.yaml': BASE, 'tenant-1.yaml': TENANT })
    const full = loadConfigText({
      'base.yaml': BASE + FULL_PARSE_ONLY,
      'tenant-1.yaml': TENANT + FULL_PARSE_ONLY,
    })
    assert.ok(fast.diagnostics.length >= 2)
    assert.equal(formatDiagnosticsText(fast.diagnostics), formatDiagnosticsText(full.diagnostics))
  })

  it('keep the positions of a valid file for what the snapshot points at', () => {
    const valid = TENANT.replace('          colour: blue\n', '          ignoreUriCase: true\n')
      .replace('number: eighty', 'number: 80')
      .replace('nowhere.test', 'backend-0.upstream.test')
    const fast = loadConfigText({ 'base.yaml': BASE, 'tenant-1.yaml': valid })
    const full = loadConfigText({
      'base.yaml': BASE + FULL_PARSE_ONLY,
      'tenant-1.yaml': valid + FULL_PARSE_ONLY,
    })
    assert.deepEqual(fast.diagnostics, full.diagnostics)
    const [vs] = fast.resources.virtualServices
    const [vsFull] = full.resources.virtualServices
    assert.ok(vs !== undefined && vsFull !== undefined)
    assert.deepEqual(vs.spec, vsFull.spec)
    for (const path of [
      [],
      ['spec', 'http', 1],
      ['spec', 'hosts', 0],
      ['spec', 'http', 0, 'route', 0, 'destination', 'port'],
    ]) {
      assert.deepEqual(vs.origin.locate(path), vsFull.origin.locate(path), path.join('.'))
    }
    assert.equal(vs.origin.locate(['spec', 'http', 1]).line, 19)
  })
})
