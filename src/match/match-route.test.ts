import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type * as ir from '../ir/index.js'
import { compileRouteTable } from './compile.js'
import { matchRoute } from './match-route.js'
import type { MatchRequest } from './request.js'
import { selectVirtualHost } from './select-virtual-host.js'

const NO_HEADERS: ir.HeaderRules = {
  request: { set: [], add: [], remove: [] },
  response: { set: [], add: [], remove: [] },
}

type MatchSpec = Partial<Omit<ir.RequestMatch, 'headers'>> & {
  headers?: readonly ir.HeaderMatch[]
}

function route(id: string, matches: readonly MatchSpec[]): ir.HttpRoute {
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
    match: matches.map((m) => ({ ignoreUriCase: false, headers: [], queryParams: [], ...m })),
    action: { kind: 'direct', status: 200 },
    headers: NO_HEADERS,
    retry: { attempts: 0, retryOn: [], retriableStatusCodes: [], backoffBaseMs: 25 },
    mirrors: [],
  }
}

function table(routes: readonly ir.HttpRoute[], domains: readonly string[] = ['*']) {
  const vh: ir.VirtualHost = { name: 'vh', domains, requireTls: false, routes }
  return compileRouteTable({ name: 'http.80', virtualHosts: [vh] })
}

interface ReqSpec {
  method?: string
  path?: string
  query?: string
  scheme?: string
  authority?: string
  headers?: Readonly<Record<string, string>>
}

function req(spec: ReqSpec = {}): MatchRequest {
  const headers = spec.headers ?? {}
  return {
    method: spec.method ?? 'GET',
    path: spec.path ?? '/',
    query: spec.query ?? '',
    scheme: spec.scheme ?? 'http',
    authority: spec.authority ?? 'example.com',
    header: (name) => headers[name],
  }
}

/** The id of the route a request lands on, or undefined for 404. */
function routeFor(routes: readonly ir.HttpRoute[], spec: ReqSpec): string | undefined {
  const t = table(routes)
  const vh = selectVirtualHost(t, 'example.com')
  assert.ok(vh)
  return matchRoute(vh, req(spec))?.route.id
}

const exact = (value: string): ir.StringMatch => ({ kind: 'exact', value })
const prefix = (value: string): ir.StringMatch => ({ kind: 'prefix', value })
const regex = (r: string): ir.StringMatch => ({ kind: 'regex', regex: r })
const present: ir.StringMatch = { kind: 'present' }
const header = (name: string, match: ir.StringMatch, invert = false): ir.HeaderMatch => ({
  name,
  match,
  invert,
})

describe('uri', () => {
  test('prefix is a raw string prefix, not a path segment', () => {
    const routes = [route('status', [{ uri: prefix('/status') }])]
    assert.equal(routeFor(routes, { path: '/status' }), 'status')
    assert.equal(routeFor(routes, { path: '/status/200' }), 'status')
    assert.equal(routeFor(routes, { path: '/statusfoo' }), 'status')
    assert.equal(routeFor(routes, { path: '/stat' }), undefined)
  })

  test('exact compares the whole path and ignores the query', () => {
    const routes = [route('foo', [{ uri: exact('/foo') }])]
    assert.equal(routeFor(routes, { path: '/foo', query: 'key=value' }), 'foo')
    assert.equal(routeFor(routes, { path: '/foo/' }), undefined)
    assert.equal(routeFor(routes, { path: '/FOO' }), undefined)
  })

  test('regex is a full match on the path', () => {
    const routes = [route('v', [{ uri: regex('/api/v[0-9]+') }])]
    assert.equal(routeFor(routes, { path: '/api/v2' }), 'v')
    assert.equal(routeFor(routes, { path: '/api/v2/users' }), undefined)
    assert.equal(routeFor(routes, { path: '/x/api/v2' }), undefined)
  })

  test('ignoreUriCase folds exact and prefix matches', () => {
    const routes = [
      route('exact', [{ uri: exact('/Foo'), ignoreUriCase: true }]),
      route('prefix', [{ uri: prefix('/BAR'), ignoreUriCase: true }]),
    ]
    assert.equal(routeFor(routes, { path: '/fOO' }), 'exact')
    assert.equal(routeFor(routes, { path: '/bar/baz' }), 'prefix')
    assert.equal(routeFor(routes, { path: '/Bar' }), 'prefix')
  })

  test('ignoreUriCase leaves regexes alone; (?i) is the way there', () => {
    const routes = [
      route('plain', [{ uri: regex('/abc'), ignoreUriCase: true }]),
      route('flagged', [{ uri: regex('(?i)/xyz') }]),
    ]
    assert.equal(routeFor(routes, { path: '/ABC' }), undefined)
    assert.equal(routeFor(routes, { path: '/abc' }), 'plain')
    assert.equal(routeFor(routes, { path: '/XyZ' }), 'flagged')
  })
})

describe('route order and OR/AND', () => {
  test('the first route that matches wins, even when a later one is more specific', () => {
    const routes = [
      route('catch-all', [{ uri: prefix('/') }]),
      route('specific', [{ uri: exact('/api') }]),
    ]
    assert.equal(routeFor(routes, { path: '/api' }), 'catch-all')
  })

  test('a route without match entries takes everything', () => {
    const routes = [route('a', [{ uri: prefix('/a') }]), route('rest', [])]
    assert.equal(routeFor(routes, { path: '/a1' }), 'a')
    assert.equal(routeFor(routes, { path: '/zzz' }), 'rest')
  })

  test('match entries are ORed and the index of the hit is reported', () => {
    const t = table([
      route('r', [
        { name: 'first', uri: prefix('/one') },
        { name: 'second', uri: prefix('/two') },
      ]),
    ])
    const vh = selectVirtualHost(t, 'example.com')!
    const hit = matchRoute(vh, req({ path: '/two/x' }))
    assert.equal(hit?.matchIndex, 1)
    assert.equal(hit?.matchName, 'second')
    assert.equal(matchRoute(vh, req({ path: '/three' })), undefined)
  })

  test('conditions within one entry are ANDed', () => {
    const routes = [
      route('r', [
        { uri: prefix('/api'), method: exact('POST'), headers: [header('x-v', exact('2'))] },
      ]),
    ]
    assert.equal(routeFor(routes, { path: '/api', method: 'POST', headers: { 'x-v': '2' } }), 'r')
    assert.equal(
      routeFor(routes, { path: '/api', method: 'GET', headers: { 'x-v': '2' } }),
      undefined,
    )
    assert.equal(
      routeFor(routes, { path: '/api', method: 'POST', headers: { 'x-v': '3' } }),
      undefined,
    )
    assert.equal(
      routeFor(routes, { path: '/web', method: 'POST', headers: { 'x-v': '2' } }),
      undefined,
    )
  })
})

describe('headers', () => {
  test('exact, prefix and regex values; missing headers fail', () => {
    const routes = [
      route('exact', [{ headers: [header('end-user', exact('jason'))] }]),
      route('prefix', [{ headers: [header('x-tier', prefix('gold'))] }]),
      route('regex', [{ headers: [header('x-id', regex('[0-9]{3}'))] }]),
    ]
    assert.equal(routeFor(routes, { headers: { 'end-user': 'jason' } }), 'exact')
    assert.equal(routeFor(routes, { headers: { 'end-user': 'Jason' } }), undefined)
    assert.equal(routeFor(routes, { headers: { 'x-tier': 'gold-plus' } }), 'prefix')
    assert.equal(routeFor(routes, { headers: { 'x-id': '123' } }), 'regex')
    assert.equal(routeFor(routes, { headers: { 'x-id': '1234' } }), undefined)
    assert.equal(routeFor(routes, {}), undefined)
  })

  test('a presence match needs the header, and an empty value counts as present', () => {
    const routes = [route('p', [{ headers: [header('x-debug', present)] }])]
    assert.equal(routeFor(routes, { headers: { 'x-debug': '' } }), 'p')
    assert.equal(routeFor(routes, { headers: { 'x-debug': 'yes' } }), 'p')
    assert.equal(routeFor(routes, {}), undefined)
  })

  test('withoutHeaders exact: a missing header matches (routing.go "without headers")', () => {
    const routes = [
      route('deny', [{ headers: [header('end-user', exact('jason'), true)] }]),
      route('allow', []),
    ]
    assert.equal(routeFor(routes, { headers: { 'end-user': 'jason' } }), 'allow')
    assert.equal(routeFor(routes, { headers: { 'end-user': 'not-jason' } }), 'deny')
    assert.equal(routeFor(routes, {}), 'deny')
  })

  test('withoutHeaders present ("regex: *"): only a missing header matches', () => {
    const routes = [
      route('deny', [{ headers: [header('end-user', present, true)] }]),
      route('allow', []),
    ]
    assert.equal(routeFor(routes, { headers: { 'end-user': 'jason' } }), 'allow')
    assert.equal(routeFor(routes, { headers: { 'end-user': '' } }), 'allow')
    assert.equal(routeFor(routes, {}), 'deny')
  })

  test('withoutHeaders regex .*: a missing header counts as "" and so never matches', () => {
    const routes = [
      route('deny', [{ headers: [header('end-user', regex('.*'), true)] }]),
      route('allow', []),
    ]
    assert.equal(routeFor(routes, { headers: { 'end-user': 'jason' } }), 'allow')
    assert.equal(routeFor(routes, { headers: { 'end-user': '' } }), 'allow')
    assert.equal(routeFor(routes, {}), 'allow')
  })

  test('pseudo-headers read the method, authority, scheme and full path', () => {
    const routes = [
      route('method', [{ headers: [header(':method', exact('GET'))] }]),
      route('authority', [{ headers: [header(':authority', exact('api.example.com:8080'))] }]),
      route('scheme', [{ headers: [header(':scheme', exact('https'))] }]),
      route('path', [{ headers: [header(':path', exact('/q?x=1'))] }]),
    ]
    assert.equal(routeFor(routes, { method: 'GET' }), 'method')
    assert.equal(
      routeFor(routes, { method: 'POST', authority: 'api.example.com:8080' }),
      'authority',
    )
    assert.equal(routeFor(routes, { method: 'POST', scheme: 'https' }), 'scheme')
    assert.equal(routeFor(routes, { method: 'POST', path: '/q', query: 'x=1' }), 'path')
    assert.equal(routeFor(routes, { method: 'POST', path: '/q' }), undefined)
  })

  test('a header named with every token character matches (routing.go "weird header matches")', () => {
    const name = "a!#$%&'*+-.^_`|~z"
    const routes = [route('weird', [{ headers: [header(name, exact('why'))] }])]
    assert.equal(routeFor(routes, { headers: { [name]: 'why' } }), 'weird')
    assert.equal(routeFor(routes, {}), undefined)
  })
})

describe('method, scheme and authority', () => {
  test('are matched as the :method, :scheme and :authority values', () => {
    const routes = [
      route('m', [{ method: exact('DELETE') }]),
      route('s', [{ scheme: exact('https') }]),
      route('a', [{ authority: prefix('admin.') }]),
      route('a-regex', [{ authority: regex('(?i)API\\.example\\.com(:[0-9]+)?') }]),
    ]
    assert.equal(routeFor(routes, { method: 'DELETE' }), 'm')
    assert.equal(routeFor(routes, { scheme: 'https' }), 's')
    assert.equal(routeFor(routes, { authority: 'admin.example.com' }), 'a')
    assert.equal(routeFor(routes, { authority: 'api.example.com:8443' }), 'a-regex')
    assert.equal(routeFor(routes, { authority: 'www.example.com' }), undefined)
  })
})

describe('queryParams', () => {
  test('exact, regex and presence', () => {
    const routes = [
      route('exact', [{ queryParams: [{ name: 'v', match: exact('2') }] }]),
      route('regex', [{ queryParams: [{ name: 'id', match: regex('[a-f0-9]+') }] }]),
      route('present', [{ queryParams: [{ name: 'debug', match: present }] }]),
    ]
    assert.equal(routeFor(routes, { query: 'a=1&v=2' }), 'exact')
    assert.equal(routeFor(routes, { query: 'v=20' }), undefined)
    assert.equal(routeFor(routes, { query: 'id=beef' }), 'regex')
    assert.equal(routeFor(routes, { query: 'id=xyz' }), undefined)
    assert.equal(routeFor(routes, { query: 'debug=anything' }), 'present')
    assert.equal(routeFor(routes, { query: '' }), undefined)
  })

  test('exact "" matches a bare ?key and an empty ?key=', () => {
    const routes = [route('flag', [{ queryParams: [{ name: 'flag', match: exact('') }] }])]
    assert.equal(routeFor(routes, { query: 'flag' }), 'flag')
    assert.equal(routeFor(routes, { query: 'flag=' }), 'flag')
    assert.equal(routeFor(routes, { query: 'flag=1' }), undefined)
    assert.equal(routeFor(routes, { query: 'other' }), undefined)
  })
})

describe('compile', () => {
  test('a regex RE2 refuses makes compilation throw, naming the route', () => {
    assert.throws(
      () => table([route('ns/vs/http[3]', [{ uri: regex('^(?!admin).*') }])]),
      /ns\/vs\/http\[3\] match\[0\]\.uri/,
    )
  })
})
