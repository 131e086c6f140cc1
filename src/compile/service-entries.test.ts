import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfigText } from '../config/index.js'
import { createServiceIndex, hostSpecificity } from './service-entries.js'

function se(name: string, ns: string, hosts: string[], exportTo?: string[]): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: ${ns}}
spec:
  hosts: ${JSON.stringify(hosts)}
  ports: [{number: 80, name: http}]
  resolution: NONE
${exportTo !== undefined ? `  exportTo: ${JSON.stringify(exportTo)}\n` : ''}`
}

function index(...docs: string[]) {
  const loaded = loadConfigText({ 'gateway.yaml': docs.join('---\n') })
  assert.deepEqual(
    loaded.diagnostics.filter((d) => d.severity === 'error'),
    [],
  )
  return createServiceIndex(loaded.resources.serviceEntries)
}

describe('hostSpecificity', () => {
  test('exact beats any wildcard, longer wildcards beat shorter ones', () => {
    const exact = hostSpecificity('a.b.example.com', 'a.b.example.com')!
    const long = hostSpecificity('*.b.example.com', 'a.b.example.com')!
    const short = hostSpecificity('*.example.com', 'a.b.example.com')!
    assert.ok(exact > long && long > short)
  })
  test('a pattern that does not cover the name ranks nothing', () => {
    assert.equal(hostSpecificity('*.example.com', 'example.com'), undefined)
    assert.equal(hostSpecificity('b.example.com', 'a.example.com'), undefined)
  })
})

describe('createServiceIndex', () => {
  test('the most specific host wins over file order', () => {
    const idx = index(
      se('wide', 'default', ['*.example.com']),
      se('narrow', 'default', ['*.api.example.com']),
      se('exact', 'default', ['eu.api.example.com']),
    )
    assert.equal(idx.find('eu.api.example.com', 'default')?.se.metadata.name, 'exact')
    assert.equal(idx.find('us.api.example.com', 'default')?.se.metadata.name, 'narrow')
    assert.equal(idx.find('www.example.com', 'default')?.se.metadata.name, 'wide')
    assert.equal(idx.find('example.com', 'default'), undefined)
  })
  test('among equals, the route namespace wins, then file order', () => {
    const idx = index(
      se('first', 'other', ['a.example.com']),
      se('second', 'other', ['a.example.com']),
      se('own', 'apps', ['a.example.com']),
    )
    assert.equal(idx.find('a.example.com', 'apps')?.se.metadata.name, 'own')
    assert.equal(idx.find('a.example.com', 'elsewhere')?.se.metadata.name, 'first')
  })
  test('exportTo hides an entry from other namespaces', () => {
    const idx = index(se('private', 'team', ['a.example.com'], ['.']))
    assert.equal(idx.find('a.example.com', 'team')?.se.metadata.name, 'private')
    assert.equal(idx.find('a.example.com', 'apps'), undefined)
  })
})
