import { test } from 'node:test'
import assert from 'node:assert/strict'
import type * as ir from '../ir/index.js'
import { compileRouteTable } from './compile.js'
import { explainRequest } from './explain.js'
import type { MatchRequest } from './request.js'

const NO_HEADERS: ir.HeaderRules = {
  request: { set: [], add: [], remove: [] },
  response: { set: [], add: [], remove: [] },
}

function route(id: string, match: readonly ir.RequestMatch[]): ir.HttpRoute {
  return {
    id,
    source: {
      kind: 'VirtualService',
      namespace: 'default',
      name: 'vs',
      path: id,
      file: 'x',
      line: 1,
    },
    match,
    action: { kind: 'direct', status: 200 },
    headers: NO_HEADERS,
    retry: { attempts: 0, retryOn: [], retriableStatusCodes: [], backoffBaseMs: 25 },
    mirrors: [],
  }
}

const entry = (m: Partial<ir.RequestMatch>): ir.RequestMatch => ({
  ignoreUriCase: false,
  headers: [],
  queryParams: [],
  ...m,
})

const table = compileRouteTable({
  name: 'http.80',
  virtualHosts: [
    {
      name: 'api.example.com:80',
      domains: ['api.example.com'],
      requireTls: false,
      routes: [
        route('default/api/http[0]', [
          entry({
            name: 'v2-users',
            uri: { kind: 'prefix', value: '/users' },
            headers: [{ name: 'x-version', match: { kind: 'exact', value: '2' }, invert: false }],
          }),
        ]),
        route('default/api/http[1]', [entry({ uri: { kind: 'prefix', value: '/' } })]),
        route('default/api/http[2]', [entry({ uri: { kind: 'prefix', value: '/users' } })]),
      ],
    },
    { name: 'wild:80', domains: ['*.example.com'], requireTls: false, routes: [] },
  ],
})

function req(path: string, headers: Record<string, string> = {}): MatchRequest {
  return {
    method: 'GET',
    path,
    query: '',
    scheme: 'http',
    authority: 'API.example.com:80',
    header: (n) => headers[n],
  }
}

test('names the failing condition of each entry and marks later routes unreached', () => {
  const e = explainRequest(table, req('/users/7', { 'x-version': '1' }))
  assert.equal(e.host, 'api.example.com')
  assert.equal(e.selectedVirtualHost, 'api.example.com:80')
  assert.equal(e.match?.route.id, 'default/api/http[1]')
  const [api, wild] = e.virtualHosts
  assert.equal(api?.reason, 'exact domain "api.example.com"')
  assert.equal(wild?.selected, false)
  assert.equal(
    wild?.reason,
    '"*.example.com" covers the host, but "api.example.com" is more specific',
  )
  const routes = api?.routes ?? []
  assert.deepEqual(
    routes.map((r) => r.outcome),
    ['not-matched', 'matched', 'not-reached'],
  )
  assert.deepEqual(routes[0]?.matches[0]?.failures, [
    'header x-version: "1" does not match exact "2"',
  ])
  // The unreached route would have matched on its own: describe shows it is shadowed.
  assert.equal(routes[2]?.matches[0]?.matched, true)
  assert.match(e.summary, /^route default\/api\/http\[1\] \(match\[0\]\)/)
})

test('a missing header and a wrong path are both listed', () => {
  const e = explainRequest(table, req('/orders'))
  assert.deepEqual(e.virtualHosts[0]?.routes?.[0]?.matches[0]?.failures, [
    'uri: "/orders" does not match prefix "/users"',
    'header x-version: missing',
  ])
})

test('explains a 404 when no virtual host covers the host', () => {
  const e = explainRequest(table, { ...req('/'), authority: 'example.org' })
  assert.equal(e.selectedVirtualHost, undefined)
  assert.equal(e.match, undefined)
  assert.match(e.summary, /^404 NR: no virtual host/)
})

test('a virtual host whose domains do not cover the host says so', () => {
  const e = explainRequest(table, { ...req('/'), authority: 'www.example.com' })
  assert.equal(e.virtualHosts[0]?.reason, 'no domain covers "www.example.com"')
  assert.equal(e.selectedVirtualHost, 'wild:80')
})

test('a wildcard host that loses to an exact one says so', () => {
  const t = compileRouteTable({
    name: 'http.80',
    virtualHosts: [
      { name: 'wild', domains: ['*.example.com'], requireTls: false, routes: [] },
      { name: 'exact', domains: ['a.example.com'], requireTls: false, routes: [] },
    ],
  })
  const e = explainRequest(t, { ...req('/'), authority: 'a.example.com' })
  assert.equal(e.selectedVirtualHost, 'exact')
  assert.equal(
    e.virtualHosts[0]?.reason,
    '"*.example.com" covers the host, but "a.example.com" is more specific',
  )
  assert.match(e.summary, /^404 NR: virtual host exact has no route/)
})
