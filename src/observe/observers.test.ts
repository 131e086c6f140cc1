import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { RequestRecord } from './events.js'
import { createObservers } from './index.js'

const record: RequestRecord = {
  startTime: Date.UTC(2026, 10, 22, 2, 27, 29, 123),
  durationMs: 3.2,
  method: 'POST',
  path: '/post',
  protocol: 'HTTP/2',
  scheme: 'https',
  authority: 'api.example.com',
  requestHeaders: { 'user-agent': 'undici' },
  responseHeaders: {},
  requestId: 'id-1',
  status: 201,
  responseFlags: '-',
  responseCodeDetails: 'via_upstream',
  bytesReceived: 12,
  bytesSent: 34,
  upstreamHost: '127.0.0.1:9000',
  upstreamCluster: 'outbound|443||api.example.com',
  upstreamServiceTimeMs: 2,
  destinationService: 'api.example.com',
  routeName: 'default/api/http[0]',
  listener: '0.0.0.0:443',
  downstreamRemoteAddress: '192.0.2.1:5000',
  downstreamLocalAddress: '10.0.0.5:443',
  requestedServerName: 'api.example.com',
}

const LINE =
  '[2026-11-22T02:27:29.123Z] "POST /post HTTP/2" 201 - via_upstream - "-" 12 34 3 2 "-" ' +
  '"undici" "id-1" "api.example.com" "127.0.0.1:9000" outbound|443||api.example.com - ' +
  '10.0.0.5:443 192.0.2.1:5000 api.example.com default/api/http[0]\n'

function tempLog(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-observers-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return join(dir, 'access.log')
}

describe('observers', () => {
  test('each request is logged in Istio text format and counted', async (t) => {
    const path = tempLog(t)
    const observers = createObservers({
      accessLog: { disabled: false, path, format: '', encoding: 'TEXT' },
    })
    t.after(() => observers.close())
    for (let i = 0; i < 3; i++) observers.request.onRequestComplete(record)
    observers.reload.onReload('applied', 4)
    await observers.flush()
    assert.equal(readFileSync(path, 'utf8'), LINE.repeat(3))
    const text = await observers.metricsText()
    assert.match(text, /^istio_requests_total\{[^}]*response_code="201"[^}]*\} 3$/m)
    assert.match(text, /^portcullis_config_version 4$/m)
    assert.match(text, /^portcullis_access_log_dropped_lines_total 0$/m)
    assert.equal(observers.metricsContentType, 'text/plain; version=0.0.4; charset=utf-8')
  })

  test('JSON encoding writes one object per line', async (t) => {
    const path = tempLog(t)
    const observers = createObservers({
      accessLog: { disabled: false, path, format: '', encoding: 'JSON' },
      processMetrics: false,
    })
    observers.request.onRequestComplete(record)
    observers.request.onRequestComplete({ ...record, status: 0, responseFlags: 'DC' })
    await observers.close()
    const lines = readFileSync(path, 'utf8').split('\n')
    assert.equal(lines.length, 3)
    assert.equal(lines[2], '')
    const second = JSON.parse(lines[1]!) as Record<string, unknown>
    assert.equal(second['response_code'], 0)
    assert.equal(second['response_flags'], 'DC')
  })

  test('with the access log disabled, requests are counted but never formatted', async () => {
    const observers = createObservers({
      accessLog: {
        disabled: true,
        path: '/nonexistent/dir/access.log',
        format: '',
        encoding: 'TEXT',
      },
      processMetrics: false,
    })
    // The metrics read the request's content-type (gRPC or not); only a formatter reads the
    // client address, which the record computes on demand.
    let headerReads = 0
    const watched = Object.defineProperty({ ...record }, 'downstreamRemoteAddress', {
      get() {
        headerReads++
        return record.downstreamRemoteAddress
      },
    })
    observers.request.onRequestComplete(watched)
    await observers.close()
    assert.equal(headerReads, 0)
    assert.match(await observers.metricsText(), /^istio_requests_total\{[^}]*\} 1$/m)
  })

  test('a bad format or an unopenable log file fails at creation', (t) => {
    assert.throws(
      () =>
        createObservers({
          accessLog: { disabled: false, path: tempLog(t), format: '%BOGUS%', encoding: 'TEXT' },
          processMetrics: false,
        }),
      /invalid access-log format: unsupported access-log operator %BOGUS%/,
    )
    assert.throws(
      () =>
        createObservers({
          accessLog: {
            disabled: false,
            path: '/nonexistent/dir/access.log',
            format: '',
            encoding: 'TEXT',
          },
          processMetrics: false,
        }),
      { code: 'ENOENT' },
    )
  })
})
