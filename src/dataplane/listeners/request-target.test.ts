import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import type * as ir from '../../ir/index.js'
import { normalizePath, type PathNormalization } from '../../lib/index.js'
import { compileRouteTable, matchRoute, selectVirtualHost } from '../../match/index.js'
import { admitRequestTarget, isValidAuthority, type TargetSettings } from './request-target.js'

const BASE: TargetSettings = { maxUriBytes: 8192, pathNormalization: 'BASE' }

function statusOf(
  target: string,
  host = 'a.test',
  settings = BASE,
  method = 'GET',
): number | string {
  const r = admitRequestTarget(method, target, host, settings)
  return typeof r === 'string' ? r : r.status
}

describe('request target: the checks both protocols share', () => {
  test('414 above maxUriBytes, exactly at the limit it is served', () => {
    const at = `/${'a'.repeat(8191)}`
    assert.equal(statusOf(at), at)
    assert.equal(statusOf(`${at}b`), 414)
    assert.equal(statusOf(`/?q=${'x'.repeat(9000)}`), 414)
  })

  test('fragments, control and non-ASCII bytes, and spaces are 400', () => {
    for (const t of ['/secret#x', '/#', '/a?b#c', '/é', '/a\u0001', '/a b', '/a\u007f']) {
      assert.equal(statusOf(t), 400, JSON.stringify(t))
    }
  })

  test('origin-form is normalized; * only for OPTIONS; absolute-form keeps its authority', () => {
    assert.equal(statusOf('/a/../b?x=../'), '/b?x=../')
    assert.equal(statusOf('*', 'a.test', BASE, 'OPTIONS'), '*')
    assert.equal(statusOf('*'), 400)
    assert.equal(statusOf('http://a.test/x/../admin'), 'http://a.test/admin')
    assert.equal(statusOf('http://a.test:80/p'), 'http://a.test:80/p')
    assert.equal(statusOf('http://a.test'), 'http://a.test')
    assert.equal(statusOf('http://b.test/p'), 400)
    assert.equal(statusOf('http://u@a.test/p'), 400)
    assert.equal(statusOf('ftp://a.test/p'), 400)
    assert.equal(statusOf('a.test/p'), 400)
  })

  test('refusals of the normalizer are 400 with their own details', () => {
    const nul = admitRequestTarget('GET', '/a%00', 'a', BASE)
    assert.deepEqual(nul, { status: 400, details: 'path_normalization_failed' })
    const semi = admitRequestTarget('GET', '/public/..;/admin', 'a', BASE)
    assert.deepEqual(semi, { status: 400, details: 'http.dot_semicolon_segment' })
  })

  test('Host and :authority must be host[:port]', () => {
    for (const ok of ['a.test', 'A.Test:8080', '127.0.0.1', '[::1]:443', '', 'x_y']) {
      assert.ok(isValidAuthority(ok), ok)
    }
    for (const bad of [
      'a b',
      'a/b',
      'u@a',
      'a:b',
      'a:123456',
      '[::1',
      '[]',
      'é.test',
      'a\tb',
      'a?b',
      'a#b',
    ]) {
      assert.ok(!isValidAuthority(bad), bad)
      assert.equal(statusOf('/', bad), 400, bad)
    }
  })
})

// The deny-bypass property of hardening.md §3.4: `exact|prefix /admin` answers 403, `/public`
// goes to A, everything else to B. However a client spells a path, the front door either refuses
// it or routes it exactly as the normalized path routes; and with DECODE_AND_MERGE_SLASHES nothing
// a decoding backend (python's http.server: one unquote, then normpath) reads as /admin reaches
// A or B.
const NO_HEADERS: ir.HeaderRules = {
  request: { set: [], add: [], remove: [] },
  response: { set: [], add: [], remove: [] },
}

function route(id: string, uri: ir.StringMatch[]): ir.HttpRoute {
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
    match: uri.map((u) => ({ uri: u, ignoreUriCase: false, headers: [], queryParams: [] })),
    action: { kind: 'direct', status: 200 },
    headers: NO_HEADERS,
    retry: { attempts: 0, retryOn: [], retriableStatusCodes: [], backoffBaseMs: 25 },
    mirrors: [],
  }
}

const VHOST = selectVirtualHost(
  compileRouteTable({
    name: 'http.80',
    virtualHosts: [
      {
        name: 'vh',
        domains: ['*'],
        requireTls: false,
        routes: [
          route('deny', [
            { kind: 'exact', value: '/admin' },
            { kind: 'prefix', value: '/admin/' },
          ]),
          route('A', [{ kind: 'prefix', value: '/public' }]),
          route('B', [{ kind: 'prefix', value: '/' }]),
        ],
      },
    ],
  }),
  'a.test',
)!

function routeOf(target: string): string {
  const q = target.indexOf('?')
  const m = matchRoute(VHOST, {
    method: 'GET',
    path: q < 0 ? target : target.slice(0, q),
    query: q < 0 ? '' : target.slice(q + 1),
    scheme: 'http',
    authority: 'a.test',
    header: () => undefined,
  })
  return m?.route.id ?? 'none'
}

/** python3 -m http.server's reading of a path: unquote once, then posixpath.normpath. */
function pythonReads(path: string): string {
  // Byte-wise, as python's unquote does (invalid UTF-8 is its business, not a slash or a dot).
  const decoded = path.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  )
  const out: string[] = []
  for (const seg of decoded.split('/')) {
    if (seg === '' || seg === '.') continue
    if (seg === '..') out.pop()
    else out.push(seg)
  }
  return `/${out.join('/')}`
}

const SEGMENTS = [
  'admin',
  'Admin',
  '%61dmin',
  '.',
  '..',
  '',
  '%2e',
  '%2E%2e',
  '%2f',
  '%5c',
  '\\',
  ';',
  '..;',
  '%00',
  '%',
  '%zz',
  'public',
]
/** `/` + 1–6 segments, each one to three pieces of the alphabet run together. */
const composed = fc
  .array(fc.array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 3 }), {
    minLength: 1,
    maxLength: 6,
  })
  .map((parts) => `/${parts.map((p) => p.join('')).join('/')}`)

const RUNS_PER_MODE = 10_000
const MODES: readonly PathNormalization[] = [
  'NONE',
  'BASE',
  'MERGE_SLASHES',
  'DECODE_AND_MERGE_SLASHES',
]

describe('request target: a deny rule on /admin is never bypassed (fast-check, seeded)', () => {
  for (const mode of MODES) {
    test(mode, () => {
      const settings: TargetSettings = { maxUriBytes: 8192, pathNormalization: mode }
      fc.assert(
        fc.property(composed, (x) => {
          const admitted = admitRequestTarget('GET', x, 'a.test', settings)
          if (typeof admitted !== 'string') {
            assert.equal(admitted.status, 400)
            return
          }
          const n = normalizePath(x, mode)
          assert.equal(typeof n, 'string', 'the front door admits only what normalizes')
          assert.equal(routeOf(admitted), routeOf(n as string))
          // And a second trip through the front door changes nothing (one normalization).
          assert.equal(admitRequestTarget('GET', admitted, 'a.test', settings), admitted)
          if (mode !== 'DECODE_AND_MERGE_SLASHES') return
          const backend = pythonReads(admitted)
          if (backend === '/admin' || backend.startsWith('/admin/')) {
            assert.equal(routeOf(admitted), 'deny', `${x} → ${admitted} reads as ${backend}`)
          }
        }),
        { seed: 0xad317, numRuns: RUNS_PER_MODE },
      )
    })
  }

  test('BASE leaves %2F and // open, as Istio documents (the reason for the stricter modes)', () => {
    const base: TargetSettings = { maxUriBytes: 8192, pathNormalization: 'BASE' }
    for (const x of ['/public/..%2fadmin', '//admin']) {
      const admitted = admitRequestTarget('GET', x, 'a.test', base)
      assert.equal(admitted, x)
      assert.notEqual(routeOf(x), 'deny')
      assert.equal(pythonReads(x), x === '//admin' ? '/admin' : '/admin')
    }
  })
})
