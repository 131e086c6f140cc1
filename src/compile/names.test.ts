import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { expandShortName, isExportedTo, parseServerHost, resolveGatewayName } from './names.js'

describe('resolveGatewayName', () => {
  test('a bare name is in the VirtualService namespace', () => {
    assert.equal(resolveGatewayName('gw', 'apps'), 'apps/gw')
  })
  test('ns/name stays; ./name is the own namespace', () => {
    assert.equal(resolveGatewayName('istio-system/gw', 'apps'), 'istio-system/gw')
    assert.equal(resolveGatewayName('./gw', 'apps'), 'apps/gw')
  })
  test('the legacy FQDN forms name the namespace after the first dot', () => {
    assert.equal(resolveGatewayName('gw.istio-system', 'apps'), 'istio-system/gw')
    assert.equal(resolveGatewayName('gw.istio-system.svc.cluster.local', 'apps'), 'istio-system/gw')
  })
  test('mesh is not a gateway', () => {
    assert.equal(resolveGatewayName('mesh', 'apps'), 'mesh')
  })
})

describe('parseServerHost', () => {
  test('without a namespace any namespace may bind', () => {
    assert.deepEqual(parseServerHost('Shop.Example.com', 'gw-ns'), {
      namespace: '*',
      host: 'shop.example.com',
    })
  })
  test('. is the Gateway namespace, other prefixes are kept', () => {
    assert.deepEqual(parseServerHost('./a.com', 'gw-ns'), { namespace: 'gw-ns', host: 'a.com' })
    assert.deepEqual(parseServerHost('team/*.a.com', 'gw-ns'), {
      namespace: 'team',
      host: '*.a.com',
    })
    assert.deepEqual(parseServerHost('*/*', 'gw-ns'), { namespace: '*', host: '*' })
  })
})

describe('expandShortName', () => {
  test('a name without a dot gets the namespace and cluster suffix', () => {
    assert.equal(expandShortName('Reviews', 'bookinfo'), 'reviews.bookinfo.svc.cluster.local')
  })
  test('dotted names, * and IP addresses stay', () => {
    assert.equal(expandShortName('reviews.prod', 'bookinfo'), 'reviews.prod')
    assert.equal(expandShortName('*', 'bookinfo'), '*')
    assert.equal(expandShortName('10.0.0.1', 'bookinfo'), '10.0.0.1')
    assert.equal(expandShortName('::1', 'bookinfo'), '::1')
  })
})

describe('isExportedTo', () => {
  test('absent or empty exportTo means every namespace', () => {
    assert.equal(isExportedTo(undefined, 'a', 'b'), true)
    assert.equal(isExportedTo([], 'a', 'b'), true)
  })
  test('. is the own namespace only', () => {
    assert.equal(isExportedTo(['.'], 'a', 'a'), true)
    assert.equal(isExportedTo(['.'], 'a', 'b'), false)
  })
  test('* and named namespaces', () => {
    assert.equal(isExportedTo(['*'], 'a', 'b'), true)
    assert.equal(isExportedTo(['c', 'b'], 'a', 'b'), true)
    assert.equal(isExportedTo(['c'], 'a', 'b'), false)
  })
  test('~ exports nowhere', () => {
    assert.equal(isExportedTo(['~'], 'a', 'a'), false)
  })
})
