import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { HTTPS_REDIRECT, buildRedirectLocation } from './redirect-location.js'
import type { RedirectRequest } from './redirect-location.js'

const base: RedirectRequest = {
  scheme: 'http',
  forwardedProto: 'http',
  authority: 'b',
  path: '/foo',
  query: '',
  listenerPort: 80,
  matchedPrefixLength: -1,
}
const at = (over: Partial<RedirectRequest>): RedirectRequest => ({ ...base, ...over })

describe('paths', () => {
  test('uri replaces the whole path and the query is kept (routing.go "redirect")', () => {
    const loc = buildRedirectLocation({ uri: '/new/path' }, at({ query: 'key=value' }))
    assert.equal(loc, 'http://b/new/path?key=value')
  })

  test('a uri with its own query replaces the request query', () => {
    assert.equal(
      buildRedirectLocation({ uri: '/n?x=1' }, at({ query: 'key=value' })),
      'http://b/n?x=1',
    )
  })

  test('prefixRewrite swaps the matched prefix only', () => {
    const req = at({ path: '/old/a/b', query: 'q=1', matchedPrefixLength: '/old'.length })
    assert.equal(buildRedirectLocation({ prefixRewrite: '/new' }, req), 'http://b/new/a/b?q=1')
  })

  test('without uri or prefixRewrite the path and query stay', () => {
    assert.equal(
      buildRedirectLocation({ authority: 'new.example.com' }, at({ query: 'a=b' })),
      'http://new.example.com/foo?a=b',
    )
  })

  test('a uri without a leading slash gets one', () => {
    assert.equal(buildRedirectLocation({ uri: 'x' }, base), 'http://b/x')
  })
})

describe('ports (routing.go "redirect request port")', () => {
  const derive = { derivePort: 'FROM_REQUEST_PORT' } as const

  test('to default: no ":80" is added, as it is the protocol default', () => {
    assert.equal(buildRedirectLocation(derive, at({ authority: 'b' })), 'http://b/foo')
  })

  test('to default with host port: an explicit ":80" in Host is kept', () => {
    assert.equal(buildRedirectLocation(derive, at({ authority: 'b:80' })), 'http://b:80/foo')
  })

  test('non-default: the listener port is added', () => {
    assert.equal(buildRedirectLocation(derive, at({ listenerPort: 85 })), 'http://b:85/foo')
  })

  test('non-default with host port: the Host port is replaced, not doubled', () => {
    assert.equal(
      buildRedirectLocation(derive, at({ listenerPort: 85, authority: 'b:85' })),
      'http://b:85/foo',
    )
  })

  test('derivePort with scheme https on port 80 gives https://host:80 ("redirect port and scheme")', () => {
    assert.equal(
      buildRedirectLocation({ ...derive, scheme: 'https' }, at({ authority: 'b' })),
      'https://b:80/foo',
    )
  })

  test('an explicit port replaces the Host port', () => {
    assert.equal(
      buildRedirectLocation({ port: 8443 }, at({ authority: 'b:1234' })),
      'http://b:8443/foo',
    )
  })

  test('an explicit default port is left out, so the Host keeps its own (Istio ApplyRedirect)', () => {
    assert.equal(
      buildRedirectLocation({ port: 443, scheme: 'https' }, at({ authority: 'b:8080' })),
      'https://b:8080/foo',
    )
    assert.equal(
      buildRedirectLocation({ port: 80 }, at({ authority: 'b:8080' })),
      'http://b:8080/foo',
    )
  })

  test('an authority rewrite comes with the new port', () => {
    assert.equal(
      buildRedirectLocation({ authority: 'c.example.com', port: 8080 }, base),
      'http://c.example.com:8080/foo',
    )
  })
})

describe('scheme changes', () => {
  test('https redirect drops the :80 of the old scheme but keeps other ports', () => {
    assert.equal(
      buildRedirectLocation(HTTPS_REDIRECT, at({ authority: 'a.com:80' })),
      'https://a.com/foo',
    )
    assert.equal(
      buildRedirectLocation(HTTPS_REDIRECT, at({ authority: 'a.com:8080', query: 'x=1' })),
      'https://a.com:8080/foo?x=1',
    )
    assert.equal(
      buildRedirectLocation(HTTPS_REDIRECT, at({ authority: 'a.com' })),
      'https://a.com/foo',
    )
  })

  test('IPv6 hosts keep their brackets', () => {
    assert.equal(
      buildRedirectLocation(HTTPS_REDIRECT, at({ authority: '[::1]:80' })),
      'https://[::1]/foo',
    )
    assert.equal(
      buildRedirectLocation({ port: 9000 }, at({ authority: '[::1]' })),
      'http://[::1]:9000/foo',
    )
  })

  test('scheme http from https strips :443', () => {
    const req = at({ scheme: 'https', forwardedProto: 'https', authority: 'a.com:443' })
    assert.equal(buildRedirectLocation({ scheme: 'http' }, req), 'http://a.com/foo')
  })
})
