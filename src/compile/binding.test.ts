import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfigText } from '../config/index.js'
import { intersectServerHosts, resolveBindings } from './binding.js'
import { createDiagSink } from './diagnostics.js'
import { parseServerHost } from './names.js'

function vsYaml(opts: { ns: string; hosts: string[]; exportTo?: string[]; gateways?: string[] }) {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: ${opts.ns}}
spec:
  hosts: ${JSON.stringify(opts.hosts)}
  gateways: ${JSON.stringify(opts.gateways ?? ['gw-ns/gw'])}
${opts.exportTo !== undefined ? `  exportTo: ${JSON.stringify(opts.exportTo)}\n` : ''}  http:
  - directResponse: {status: 200}
`
}

function bind(
  vs: { ns: string; hosts: string[]; exportTo?: string[] },
  serverHosts: string[],
  gatewayNs = 'gw-ns',
): string[] {
  const loaded = loadConfigText({ 'gateway.yaml': vsYaml(vs) })
  assert.deepEqual(loaded.diagnostics, [])
  const [bound] = resolveBindings(loaded.resources.virtualServices, [], createDiagSink())
  const hosts = serverHosts.map((h) => parseServerHost(h, gatewayNs))
  return intersectServerHosts(bound!, gatewayNs, hosts)
}

describe('intersectServerHosts', () => {
  test('the more specific name of each intersecting pair', () => {
    assert.deepEqual(bind({ ns: 'a', hosts: ['*'] }, ['x.com', '*.y.com']), ['x.com', '*.y.com'])
    assert.deepEqual(bind({ ns: 'a', hosts: ['a.y.com', '*.z.y.com'] }, ['*.y.com']), [
      'a.y.com',
      '*.z.y.com',
    ])
    assert.deepEqual(bind({ ns: 'a', hosts: ['*.y.com'] }, ['a.y.com', '*']), [
      'a.y.com',
      '*.y.com',
    ])
  })
  test('a wildcard never covers its bare suffix', () => {
    assert.deepEqual(bind({ ns: 'a', hosts: ['y.com'] }, ['*.y.com']), [])
  })
  test('hosts compare case-insensitively', () => {
    assert.deepEqual(bind({ ns: 'a', hosts: ['Shop.Example.COM'] }, ['shop.example.com']), [
      'shop.example.com',
    ])
  })
  test('short VirtualService hosts are expanded before they meet server hosts', () => {
    assert.deepEqual(bind({ ns: 'a', hosts: ['reviews'] }, ['*.svc.cluster.local']), [
      'reviews.a.svc.cluster.local',
    ])
  })
  test('the namespace part of a server host must admit the VirtualService namespace', () => {
    assert.deepEqual(bind({ ns: 'a', hosts: ['x.com'] }, ['b/x.com']), [])
    assert.deepEqual(bind({ ns: 'b', hosts: ['x.com'] }, ['b/x.com']), ['x.com'])
    assert.deepEqual(bind({ ns: 'b', hosts: ['x.com'] }, ['*/x.com']), ['x.com'])
    assert.deepEqual(bind({ ns: 'a', hosts: ['x.com'] }, ['./x.com']), [])
    assert.deepEqual(bind({ ns: 'gw-ns', hosts: ['x.com'] }, ['./x.com']), ['x.com'])
  })
  test('exportTo must admit the Gateway namespace', () => {
    assert.deepEqual(bind({ ns: 'a', hosts: ['x.com'], exportTo: ['.'] }, ['x.com']), [])
    assert.deepEqual(bind({ ns: 'a', hosts: ['x.com'], exportTo: ['gw-ns'] }, ['x.com']), ['x.com'])
    assert.deepEqual(bind({ ns: 'gw-ns', hosts: ['x.com'], exportTo: ['.'] }, ['x.com']), ['x.com'])
  })
})

describe('resolveBindings', () => {
  test('gateways resolve to ns/name and mesh is not a gateway', () => {
    const yaml = vsYaml({ ns: 'a', hosts: ['x.com'], gateways: ['mesh', 'gw', 'other/gw2'] })
    const loaded = loadConfigText({ 'gateway.yaml': yaml })
    const sink = createDiagSink()
    const [bound] = resolveBindings(loaded.resources.virtualServices, [], sink)
    assert.deepEqual([...bound!.gateways], ['a/gw', 'other/gw2'])
    assert.deepEqual(
      sink.drain().map((d) => [d.code, d.path]),
      [
        ['PC2001', 'spec.gateways[1]'],
        ['PC2001', 'spec.gateways[2]'],
      ],
    )
  })
})
