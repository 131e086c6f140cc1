import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createSniTable } from './sni-select.js'

describe('createSniTable', () => {
  const table = createSniTable([
    ['*.example.com', 'wild'],
    ['*.api.example.com', 'wild-api'],
    ['www.example.com', 'exact'],
    ['*', 'any'],
  ])

  test('exact name wins over wildcards, in any entry order', () => {
    assert.equal(table.select('www.example.com'), 'exact')
  })

  test('the longest wildcard suffix wins', () => {
    assert.equal(table.select('v1.api.example.com'), 'wild-api')
    assert.equal(table.select('shop.example.com'), 'wild')
    assert.equal(table.select('a.b.example.com'), 'wild')
  })

  test('a wildcard does not cover its bare suffix', () => {
    assert.equal(table.select('example.com'), 'any')
    assert.equal(table.select('api.example.com'), 'wild')
  })

  test('a trailing dot is ignored', () => {
    assert.equal(table.select('www.example.com.'), 'exact')
  })

  test('unknown names and a missing SNI fall to *', () => {
    assert.equal(table.select('other.test'), 'any')
    assert.equal(table.select(undefined), 'any')
    assert.equal(table.select(''), 'any')
  })

  test('without *, unknown names and a missing SNI select nothing', () => {
    const strict = createSniTable([
      ['web.example.com', 1],
      ['*.example.com', 2],
    ])
    assert.equal(strict.select('web.example.com'), 1)
    assert.equal(strict.select('x.example.com'), 2)
    assert.equal(strict.select('web.example.org'), undefined)
    assert.equal(strict.select(undefined), undefined)
  })

  test('the first server listing a host keeps it', () => {
    const dup = createSniTable([
      ['web.example.com', 'first'],
      ['web.example.com', 'second'],
      ['*.example.com', 'first-wild'],
      ['*.example.com', 'second-wild'],
      ['*', 'first-any'],
      ['*', 'second-any'],
    ])
    assert.equal(dup.select('web.example.com'), 'first')
    assert.equal(dup.select('x.example.com'), 'first-wild')
    assert.equal(dup.select('other.test'), 'first-any')
  })
})
