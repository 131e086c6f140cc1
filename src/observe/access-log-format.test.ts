import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { RequestRecord } from './events.js'
import {
  compileAccessLogFormat,
  DEFAULT_ACCESS_LOG_FORMAT,
  type AccessLogFormatter,
} from './access-log-format.js'

const proxied: RequestRecord = {
  startTime: Date.UTC(2026, 10, 22, 2, 27, 29, 123),
  durationMs: 12.7,
  method: 'GET',
  path: '/status/418?x=1',
  protocol: 'HTTP/1.1',
  scheme: 'https',
  authority: 'httpbin.example.com',
  requestHeaders: {
    host: 'httpbin.example.com',
    'user-agent': 'curl/8.5.0',
    'x-forwarded-for': '203.0.113.7',
    'x-request-id': 'abc-123',
    'x-multi': ['a=1', 'b=2'],
  },
  responseHeaders: { 'x-envoy-upstream-service-time': '9', 'content-length': 135 },
  requestId: 'abc-123',
  status: 418,
  responseFlags: '-',
  responseCodeDetails: 'via_upstream',
  bytesReceived: 0,
  bytesSent: 135,
  upstreamHost: '127.0.0.1:8080',
  upstreamCluster: 'outbound|80||httpbin.example.com',
  upstreamServiceTimeMs: 9.4,
  destinationService: 'httpbin.example.com',
  routeName: 'default/httpbin/http[0]',
  listener: '0.0.0.0:443',
  downstreamRemoteAddress: '192.0.2.10:53124',
  downstreamLocalAddress: '10.0.0.5:443',
  requestedServerName: 'httpbin.example.com',
}

/** A local 404 reply: no route, no upstream, no TLS, nothing optional sent by the client. */
const noRoute: RequestRecord = {
  ...proxied,
  startTime: Date.UTC(2026, 0, 2, 3, 4, 5, 6),
  durationMs: 0.4,
  path: '/nope',
  scheme: 'http',
  authority: 'example.com',
  requestHeaders: { host: 'example.com' },
  responseHeaders: undefined,
  requestId: 'req-2',
  status: 404,
  responseFlags: 'NR',
  responseCodeDetails: 'route_not_found',
  bytesSent: 0,
  upstreamHost: undefined,
  upstreamCluster: undefined,
  upstreamServiceTimeMs: undefined,
  destinationService: undefined,
  routeName: undefined,
  downstreamLocalAddress: '10.0.0.5:80',
  requestedServerName: undefined,
}

function compile(format: string, encoding: 'TEXT' | 'JSON' = 'TEXT'): AccessLogFormatter {
  const compiled = compileAccessLogFormat(format, encoding)
  if (!compiled.ok) assert.fail(compiled.error)
  return compiled.formatter
}

function compileError(format: string, encoding: 'TEXT' | 'JSON' = 'TEXT'): string {
  const compiled = compileAccessLogFormat(format, encoding)
  assert.equal(compiled.ok, false, `expected ${JSON.stringify(format)} to be rejected`)
  return compiled.ok ? '' : compiled.error
}

describe('text access-log format', () => {
  test('the default format renders a proxied request like an Istio gateway', () => {
    assert.equal(
      compile(DEFAULT_ACCESS_LOG_FORMAT)(proxied),
      '[2026-11-22T02:27:29.123Z] "GET /status/418?x=1 HTTP/1.1" 418 - via_upstream - "-" 0 135 12 9 ' +
        '"203.0.113.7" "curl/8.5.0" "abc-123" "httpbin.example.com" "127.0.0.1:8080" ' +
        'outbound|80||httpbin.example.com - 10.0.0.5:443 192.0.2.10:53124 httpbin.example.com ' +
        'default/httpbin/http[0]\n',
    )
  })

  test('missing values print as -', () => {
    assert.equal(
      compile('')(noRoute),
      '[2026-01-02T03:04:05.006Z] "GET /nope HTTP/1.1" 404 NR route_not_found - "-" 0 0 0 - ' +
        '"-" "-" "req-2" "example.com" "-" - - 10.0.0.5:80 192.0.2.10:53124 - -\n',
    )
  })

  test('an empty format means the default, and a missing newline is added', () => {
    assert.equal(compile('')(proxied), compile(DEFAULT_ACCESS_LOG_FORMAT)(proxied))
    assert.equal(compile('%RESPONSE_CODE%')(proxied), '418\n')
  })

  test('REQ reads headers case-insensitively, with a fallback header after ?', () => {
    const line = compile(
      '%REQ(User-Agent)%|%REQ(X-MISSING?USER-AGENT)%|%REQ(X-MISSING?X-ALSO-MISSING)%|%REQ(X-MULTI)%',
    )(proxied)
    assert.equal(line, 'curl/8.5.0|curl/8.5.0|-|a=1,b=2\n')
  })

  test('pseudo-headers and the original path come from the record', () => {
    const format =
      '%REQ(:METHOD)% %REQ(:SCHEME)% %REQ(:AUTHORITY)% %REQ(:PATH)% %REQ(X-ENVOY-ORIGINAL-PATH)%'
    assert.equal(
      compile(format)(proxied),
      'GET https httpbin.example.com /status/418?x=1 /status/418?x=1\n',
    )
    const spoofed = { ...proxied, requestHeaders: { 'x-envoy-original-path': '/forged' } }
    assert.equal(compile('%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%')(spoofed), '/status/418?x=1\n')
  })

  test('x-request-id is the id the gateway used, even when the client sent none', () => {
    assert.equal(compile('%REQ(X-REQUEST-ID)%')(noRoute), 'req-2\n')
  })

  test(':N truncates a value to N characters', () => {
    assert.equal(
      compile('%REQ(USER-AGENT):4% %REQ(:PATH):7% %REQ(X-MISSING):2%')(proxied),
      'curl /status -\n',
    )
  })

  test('RESP reads response headers; the upstream service time falls back to the record', () => {
    assert.equal(compile('%RESP(content-length)% %RESP(X-MISSING)%')(proxied), '135 -\n')
    const withoutHeader = { ...proxied, responseHeaders: {} }
    assert.equal(compile('%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%')(withoutHeader), '9\n')
    assert.equal(compile('%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%')(noRoute), '-\n')
  })

  test('the remaining operators map to record fields', () => {
    const format =
      '%UPSTREAM_SERVICE_TIME% %DURATION% %ROUTE_NAME% %REQUESTED_SERVER_NAME% ' +
      '%UPSTREAM_TRANSPORT_FAILURE_REASON% %UPSTREAM_LOCAL_ADDRESS% %CONNECTION_TERMINATION_DETAILS%'
    assert.equal(
      compile(format)(proxied),
      '9 12 default/httpbin/http[0] httpbin.example.com - - -\n',
    )
  })

  test('%% is a literal percent sign', () => {
    assert.equal(compile('100%% %RESPONSE_CODE%')(proxied), '100% 418\n')
  })

  test('start time pads milliseconds and stays correct across seconds', () => {
    const format = compile('%START_TIME%')
    const at = (ms: number) => format({ ...proxied, startTime: ms })
    assert.equal(at(Date.UTC(2026, 10, 22, 2, 27, 29, 5)), '2026-11-22T02:27:29.005Z\n')
    assert.equal(at(Date.UTC(2026, 10, 22, 2, 27, 29, 45)), '2026-11-22T02:27:29.045Z\n')
    assert.equal(at(Date.UTC(2026, 10, 22, 2, 27, 30, 0)), '2026-11-22T02:27:30.000Z\n')
    assert.equal(at(Date.UTC(2026, 10, 22, 2, 27, 29, 999)), '2026-11-22T02:27:29.999Z\n')
    assert.equal(at(Number.NaN), '-\n')
  })

  test('unknown or malformed operators are reported, not ignored', () => {
    assert.match(compileError('[%START_TIME%] %NOT_AN_OPERATOR%'), /NOT_AN_OPERATOR.*offset 15/)
    assert.match(compileError('%REQ(USER-AGENT'), /malformed access-log operator at offset 0/)
    assert.match(compileError('50% off'), /malformed/)
    assert.match(compileError('%REQ()%'), /needs a header name/)
    assert.match(compileError('%REQ(A?B?C)%'), /one alternative at most/)
    assert.match(compileError('%DURATION(x)%'), /takes no argument/)
    assert.match(compileError('%START_TIME(%s)%'), /malformed|not supported/)
  })
})

describe('JSON access-log format', () => {
  test('the default fields render one typed JSON object per line', () => {
    const expected =
      '{"start_time":"2026-11-22T02:27:29.123Z","method":"GET","path":"/status/418?x=1",' +
      '"protocol":"HTTP/1.1","response_code":418,"response_flags":"-",' +
      '"response_code_details":"via_upstream","connection_termination_details":null,' +
      '"upstream_transport_failure_reason":null,"bytes_received":0,"bytes_sent":135,' +
      '"duration":12,"upstream_service_time":"9","x_forwarded_for":"203.0.113.7",' +
      '"user_agent":"curl/8.5.0","request_id":"abc-123","authority":"httpbin.example.com",' +
      '"upstream_host":"127.0.0.1:8080","upstream_cluster":"outbound|80||httpbin.example.com",' +
      '"upstream_local_address":null,"downstream_local_address":"10.0.0.5:443",' +
      '"downstream_remote_address":"192.0.2.10:53124",' +
      '"requested_server_name":"httpbin.example.com","route_name":"default/httpbin/http[0]"}\n'
    assert.equal(compile('', 'JSON')(proxied), expected)
    assert.equal(compile(DEFAULT_ACCESS_LOG_FORMAT, 'JSON')(proxied), expected)
  })

  test('missing values are null and every line parses as JSON', () => {
    const line = compile('', 'JSON')(noRoute)
    assert.ok(line.endsWith('}\n'))
    const parsed = JSON.parse(line) as Record<string, unknown>
    assert.equal(parsed['route_name'], null)
    assert.equal(parsed['upstream_host'], null)
    assert.equal(parsed['upstream_service_time'], null)
    assert.equal(parsed['response_flags'], 'NR')
    assert.equal(parsed['response_code'], 404)
  })

  test('a custom object keeps literals, mixes text, escapes, and nests', () => {
    const format = JSON.stringify({
      site: 'edge-1',
      version: 2,
      request: { line: '%REQ(:METHOD)% %REQ(:PATH):7%', ua: '%REQ(USER-AGENT)%' },
      upstream: '%UPSTREAM_HOST% via %UPSTREAM_CLUSTER%',
    })
    const quoted = { ...proxied, requestHeaders: { 'user-agent': 'say "hi"\\' } }
    assert.equal(
      compile(format, 'JSON')(quoted),
      '{"site":"edge-1","version":2,"request":{"line":"GET /status","ua":"say \\"hi\\"\\\\"},' +
        '"upstream":"127.0.0.1:8080 via outbound|80||httpbin.example.com"}\n',
    )
  })

  test('header values are escaped exactly as JSON.stringify would', () => {
    const format = compile('{"ua":"%REQ(USER-AGENT)%"}', 'JSON')
    for (const ua of [
      'plain',
      'tab\there',
      'emoji \u{1F600}',
      'lone \ud800 surrogate',
      'nul \u0000',
    ]) {
      const line = format({ ...proxied, requestHeaders: { 'user-agent': ua } })
      assert.equal(line, `{"ua":${JSON.stringify(ua)}}\n`)
    }
  })

  test('bad JSON formats are reported', () => {
    assert.match(compileError('{not json', 'JSON'), /not valid JSON/)
    assert.match(compileError('["%START_TIME%"]', 'JSON'), /must be an object/)
    assert.match(compileError('{"a":{"b":"%NOPE%"}}', 'JSON'), /field "a\.b".*NOPE/)
    assert.match(compileError('{"a":[1]}', 'JSON'), /field "a"/)
  })
})
