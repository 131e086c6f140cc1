import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { GuardSettings, RequestHead } from './request-guard.js'
import { DROP_UNDERSCORE_HEADERS, inspectRequest, isContinueExpectation } from './request-guard.js'

const SETTINGS: GuardSettings = {
  maxHeaderCount: 100,
  maxHeaderBytes: 16_384,
  headersWithUnderscores: 'REJECT',
  maxUriBytes: 8192,
  pathNormalization: 'BASE',
}

function head(over: Partial<RequestHead> & { headers?: [string, string][] } = {}): RequestHead {
  return {
    method: over.method ?? 'GET',
    url: over.url ?? '/',
    httpVersionMajor: over.httpVersionMajor ?? 1,
    httpVersionMinor: over.httpVersionMinor ?? 1,
    rawHeaders: (over.headers ?? [['Host', 'example.com']]).flat(),
  }
}

/** Status the guard answers, or 'ok' / 'drop'. */
function verdictOf(req: RequestHead, settings = SETTINGS): number | 'ok' | 'drop' {
  const v = inspectRequest(req, settings)
  if (v === undefined) return 'ok'
  if (v === DROP_UNDERSCORE_HEADERS) return 'drop'
  return v.status
}

const te = (value: string): RequestHead =>
  head({
    method: 'POST',
    headers: [
      ['Host', 'a'],
      ['Transfer-Encoding', value],
    ],
  })

describe('request guard: Transfer-Encoding', () => {
  const cases: [string, number | 'ok'][] = [
    ['chunked', 'ok'],
    ['Chunked', 'ok'],
    ['CHUNKED', 'ok'],
    [' chunked\t', 'ok'],
    ['gzip, chunked', 501],
    ['identity, chunked', 501],
    ['gzip,chunked', 501],
    [',chunked', 400],
    ['chunked, gzip', 400],
    ['chunked, chunked', 400],
    ['gzip', 400],
    ['chunked;q=1', 400],
    ['', 400],
  ]
  for (const [value, expected] of cases) {
    test(`${JSON.stringify(value)} → ${expected}`, () => {
      assert.equal(verdictOf(te(value)), expected)
    })
  }

  test('two Transfer-Encoding lines → 400, even when each is chunked', () => {
    const req = head({
      method: 'POST',
      headers: [
        ['Host', 'a'],
        ['transfer-encoding', 'chunked'],
        ['Transfer-Encoding', 'chunked'],
      ],
    })
    assert.equal(verdictOf(req), 400)
  })

  test('Transfer-Encoding in HTTP/1.0 → 400', () => {
    assert.equal(verdictOf({ ...te('chunked'), httpVersionMinor: 0 }), 400)
  })

  test('with Content-Length → 400', () => {
    const req = head({
      method: 'POST',
      headers: [
        ['Host', 'a'],
        ['Content-Length', '3'],
        ['Transfer-Encoding', 'chunked'],
      ],
    })
    assert.equal(verdictOf(req), 400)
  })
})

describe('request guard: request target and Host', () => {
  const cases: [string, Partial<RequestHead> & { headers?: [string, string][] }, number | 'ok'][] =
    [
      ['origin-form', { url: '/a/b?c=d' }, 'ok'],
      ['fragment', { url: '/a#b' }, 400],
      ['space', { url: '/a b' }, 400],
      ['control byte', { url: '/a\x01' }, 400],
      ['DEL', { url: '/a\x7f' }, 400],
      ['non-ASCII', { url: '/é' }, 400],
      ['empty', { url: '' }, 400],
      ['relative', { url: 'a/b' }, 400],
      ['asterisk with OPTIONS', { method: 'OPTIONS', url: '*' }, 'ok'],
      ['asterisk with GET', { url: '*' }, 400],
      ['absolute-form, same host', { url: 'http://example.com/x' }, 'ok'],
      ['absolute-form, case and default port', { url: 'HTTP://EXAMPLE.com:80/x' }, 'ok'],
      [
        'absolute-form https default port',
        { url: 'https://example.com:443', headers: [['Host', 'example.com']] },
        'ok',
      ],
      ['absolute-form, other host', { url: 'http://internal/x' }, 400],
      ['absolute-form, other port', { url: 'http://example.com:8080/x' }, 400],
      ['absolute-form, userinfo', { url: 'http://user@example.com/x' }, 400],
      ['absolute-form, unknown scheme', { url: 'ftp://example.com/x' }, 400],
      ['absolute-form, empty authority', { url: 'http:///x' }, 400],
      [
        'absolute-form without Host (HTTP/1.0)',
        { url: 'http://a/x', httpVersionMinor: 0, headers: [] },
        'ok',
      ],
      [
        'duplicate Host',
        {
          headers: [
            ['Host', 'a'],
            ['host', 'b'],
          ],
        },
        400,
      ],
      ['HTTP/1.1 without Host', { headers: [] }, 400],
      ['HTTP/1.0 without Host', { httpVersionMinor: 0, headers: [] }, 'ok'],
      ['HTTP/2.0 request line', { httpVersionMajor: 2, httpVersionMinor: 0 }, 505],
      ['HTTP/1.2 request line', { httpVersionMinor: 2 }, 505],
      ['HTTP/0.9', { httpVersionMajor: 0, httpVersionMinor: 9, headers: [] }, 505],
    ]
  for (const [name, over, expected] of cases) {
    test(`${name} → ${expected}`, () => {
      assert.equal(verdictOf(head(over)), expected)
    })
  }
})

describe('request guard: header fields', () => {
  test('header count: 100 fields pass, 101 → 431', () => {
    const fields = (n: number): [string, string][] =>
      Array.from({ length: n }, (_, i): [string, string] =>
        i === 0 ? ['Host', 'a'] : [`X-${i}`, 'v'],
      )
    assert.equal(verdictOf(head({ headers: fields(100) })), 'ok')
    assert.equal(verdictOf(head({ headers: fields(101) })), 431)
  })

  test('underscore in a name: REJECT → 400, DROP → drop, ALLOW → ok', () => {
    const req = head({
      headers: [
        ['Host', 'a'],
        ['X_Foo', '1'],
      ],
    })
    assert.equal(verdictOf(req), 400)
    assert.equal(verdictOf(req, { ...SETTINGS, headersWithUnderscores: 'DROP' }), 'drop')
    assert.equal(verdictOf(req, { ...SETTINGS, headersWithUnderscores: 'ALLOW' }), 'ok')
  })

  test('Upgrade: h2c → 400, also inside a list; websocket passes', () => {
    const upgrade = (value: string) =>
      head({
        headers: [
          ['Host', 'a'],
          ['Upgrade', value],
        ],
      })
    assert.equal(verdictOf(upgrade('h2c')), 400)
    assert.equal(verdictOf(upgrade('foo, H2C')), 400)
    assert.equal(verdictOf(upgrade('websocket')), 'ok')
  })

  test('Expect: only exactly 100-continue passes', () => {
    const expect = (...values: string[]) =>
      head({ headers: [['Host', 'a'], ...values.map((v): [string, string] => ['Expect', v])] })
    assert.equal(verdictOf(expect('100-continue')), 'ok')
    assert.equal(verdictOf(expect('100-Continue ')), 'ok')
    assert.equal(verdictOf(expect('foo')), 417)
    // Node treats this as 100-continue; we do not.
    assert.equal(verdictOf(expect('y 100-continue')), 417)
    assert.equal(verdictOf(expect('100-continue', '100-continue')), 417)
    assert.equal(isContinueExpectation('100-continue'), true)
  })

  test('CONNECT: authority-form host:port only, Host optional, the same header limits', () => {
    const connect = (url: string, headers: [string, string][] = []) =>
      head({ method: 'CONNECT', url, headers })
    assert.equal(verdictOf(connect('a.example:443')), 'ok')
    assert.equal(verdictOf(connect('[::1]:8443', [['Host', '[::1]:8443']])), 'ok')
    assert.equal(verdictOf(connect('10.0.0.1:1')), 'ok')
    for (const bad of ['/x', 'a.example', 'a.example:', ':443', 'a:0', 'a:99999', 'u@a:443']) {
      assert.equal(verdictOf(connect(bad)), 400, bad)
    }
    assert.equal(verdictOf(connect('http://a.example/')), 400)
    assert.equal(verdictOf(connect('a:443', [['X_A', '1']])), 400)
    assert.equal(verdictOf(connect('a:443', [['X-Big', 'x'.repeat(20_000)]])), 431)
  })
})
