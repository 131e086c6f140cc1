import { test } from 'node:test'
import assert from 'node:assert/strict'
import type * as ir from '../ir/index.js'
import { compileRouteTable } from './compile.js'
import { selectVirtualHost } from './select-virtual-host.js'

function vhost(name: string, domains: readonly string[]): ir.VirtualHost {
  return { name, domains, requireTls: false, routes: [] }
}

function pick(vhosts: readonly ir.VirtualHost[], host: string): string | undefined {
  return selectVirtualHost(compileRouteTable({ name: 'http.80', virtualHosts: vhosts }), host)?.name
}

const hosts = [
  vhost('catch-all', ['*']),
  vhost('wide', ['*.example.com']),
  vhost('narrow', ['*.api.example.com']),
  vhost('exact', ['api.example.com', 'www.example.com']),
]

test('an exact domain beats every wildcard', () => {
  assert.equal(pick(hosts, 'api.example.com'), 'exact')
  assert.equal(pick(hosts, 'www.example.com'), 'exact')
})

test('the longest wildcard suffix wins, whatever the table order', () => {
  assert.equal(pick(hosts, 'v1.api.example.com'), 'narrow')
  assert.equal(pick(hosts, 'a.b.api.example.com'), 'narrow')
  assert.equal(pick(hosts, 'shop.example.com'), 'wide')
})

test('a wildcard never covers its bare suffix', () => {
  assert.equal(pick([vhost('wide', ['*.example.com'])], 'example.com'), undefined)
  assert.equal(pick(hosts, 'example.com'), 'catch-all')
})

test('"*" is the last resort; without it an unknown host has no virtual host', () => {
  assert.equal(pick(hosts, 'other.org'), 'catch-all')
  assert.equal(pick(hosts.slice(1), 'other.org'), undefined)
})

test('the first virtual host listing a domain keeps it', () => {
  assert.equal(pick([vhost('one', ['a.com']), vhost('two', ['a.com'])], 'a.com'), 'one')
  assert.equal(pick([vhost('one', ['*.a.com']), vhost('two', ['*.a.com'])], 'x.a.com'), 'one')
})

test('domains are compared in lower case', () => {
  assert.equal(pick([vhost('upper', ['API.Example.com'])], 'api.example.com'), 'upper')
})

test('IPv6 literals are exact domains', () => {
  assert.equal(pick([vhost('v6', ['[::1]'])], '[::1]'), 'v6')
})
