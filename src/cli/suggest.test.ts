import { test } from 'node:test'
import assert from 'node:assert/strict'
import { destinationsFromAccessLog, runSuggest } from './suggest.js'
import { formatAdditions, suggestServiceEntries } from './suggest-serviceentries.js'

test('suggestions group ports per exact host and skip what a host entry cannot fix', () => {
  const s = suggestServiceEntries([
    {
      host: 'API.example.com.',
      port: 443,
      protocol: 'TLS',
      reason: 'host_not_registered',
      count: 3,
    },
    {
      host: 'api.example.com',
      port: 80,
      protocol: 'HTTP',
      reason: 'host_not_registered',
      count: 1,
    },
    { host: 'a.cdn.example.net', port: 443, protocol: 'TLS', reason: undefined, count: 1 },
    { host: '93.184.216.34', port: 443, protocol: 'TLS', reason: 'ip_not_registered', count: 1 },
    { host: 'meta.internal', port: 80, protocol: 'HTTP', reason: 'private_address', count: 1 },
  ])
  assert.deepEqual(s.skipped, [
    '93.184.216.34:443 (ip_not_registered)',
    'meta.internal:80 (private_address)',
  ])
  assert.match(s.yaml, /name: egress-a-cdn-example-net\n/)
  assert.match(
    s.yaml,
    /hosts:\n {2}- api\.example\.com\n {2}location: MESH_EXTERNAL\n {2}ports:\n {2}- number: 80\n {4}name: http-80\n {4}protocol: HTTP\n {2}- number: 443\n {4}name: tls-443\n {4}protocol: TLS\n {2}resolution: DNS\n/,
  )
  assert.doesNotMatch(s.yaml, /\*/)
})

test('JSON access-log lines: audited and denied egress records, CONNECT and SNI included', () => {
  const lines = [
    {
      method: 'GET',
      response_code_details: 'egress_audited:host_not_registered',
      authority: 'api.test',
    },
    {
      method: 'GET',
      response_code_details: 'egress_audited:host_not_registered',
      authority: 'api.test',
    },
    {
      method: 'CONNECT',
      response_code_details: 'egress_denied:port_not_registered',
      authority: 'db.test:5432',
    },
    {
      method: '',
      response_code_details: 'egress_denied:host_not_registered',
      authority: '',
      requested_server_name: 'sni.test',
    },
    { method: 'GET', response_code_details: 'via_upstream', authority: 'ok.test' },
  ]
  const seen = destinationsFromAccessLog(lines.map((l) => JSON.stringify(l)).join('\n'))
  assert.deepEqual(
    seen.map((d) => [d.host, d.port, d.protocol, d.reason, d.count]),
    [
      ['api.test', 80, 'HTTP', 'host_not_registered', 2],
      ['db.test', 5432, 'TCP', 'port_not_registered', 1],
      ['sni.test', 443, 'TLS', 'host_not_registered', 1],
    ],
  )
})

test('suggest needs exactly one source', async () => {
  let err = ''
  const io = { out: () => {}, err: (s: string) => (err += s) }
  assert.equal(await runSuggest(['serviceentries'], io), 2)
  assert.match(err, /exactly one of --admin or --access-log/)
  assert.equal(await runSuggest(['gateways', '--admin', 'http://127.0.0.1:1'], io), 2)
  assert.match(err, /unknown subject "gateways"/)
  assert.equal(await runSuggest(['serviceentries', '--access-log', '/nonexistent/x.log'], io), 1)
})

test('a host an existing entry registers gets additions to that entry, never a second entry', () => {
  const existing = [
    { name: 'default/httpbin', hosts: ['httpbin.org'], ports: [80], where: 'gateway.yaml:12' },
    { name: 'default/wiki', hosts: ['*.wikipedia.org'], ports: [443], where: 'egress.yaml:3' },
  ]
  const s = suggestServiceEntries(
    [
      { host: 'httpbin.org', port: 443, protocol: 'TLS', reason: 'port_not_registered', count: 2 },
      { host: 'httpbin.org', port: 80, protocol: 'HTTP', reason: undefined, count: 1 },
      { host: 'en.wikipedia.org', port: 443, protocol: 'TLS', reason: undefined, count: 1 },
      { host: 'api.example.com', port: 443, protocol: 'TLS', reason: undefined, count: 1 },
    ],
    existing,
  )
  assert.doesNotMatch(s.yaml, /httpbin|wikipedia/)
  assert.match(s.yaml, /- api\.example\.com\n/)
  assert.deepEqual(
    s.additions.map((a) => [a.host, a.entry.where, a.ports]),
    [['httpbin.org', 'gateway.yaml:12', [{ number: 443, protocol: 'TLS' }]]],
  )
  assert.equal(
    formatAdditions(s.additions),
    '# httpbin.org: add to ServiceEntry default/httpbin (gateway.yaml:12) under spec.ports:\n' +
      '#   - {number: 443, name: tls-443, protocol: TLS}\n',
  )
})
