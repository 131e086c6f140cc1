// docs/diagnostics.md shows a GatewayConfig's labels and the istio_requests_total series they
// give one request; this runs that example exactly as printed.
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parse } from 'yaml'
import type { RequestRecord } from './events.js'
import { gatewayIdentity } from './istio-labels.js'
import { createGatewayMetrics } from './metrics.js'

const request: RequestRecord = {
  startTime: 0,
  durationMs: 3,
  method: 'GET',
  path: '/get',
  protocol: 'HTTP/1.1',
  scheme: 'http',
  authority: 'httpbin.example.com',
  requestHeaders: {},
  responseHeaders: undefined,
  requestId: 'r',
  status: 200,
  responseFlags: '-',
  responseCodeDetails: 'via_upstream',
  bytesReceived: 0,
  bytesSent: 10,
  upstreamHost: '127.0.0.1:8000',
  upstreamCluster: 'outbound|8000||httpbin.default.svc.cluster.local',
  upstreamServiceTimeMs: 1,
  destinationService: 'httpbin.default.svc.cluster.local',
  routeName: 'default/httpbin/http[0]',
  listener: '0.0.0.0:80',
  downstreamRemoteAddress: '192.0.2.1:1234',
  downstreamLocalAddress: '10.0.0.1:80',
  requestedServerName: undefined,
}

test("docs/diagnostics.md: the Istio labels example is what the gateway's metrics print", async () => {
  const doc = await readFile(new URL('../../docs/diagnostics.md', import.meta.url), 'utf8')
  const begin = doc.indexOf('<!-- labels-example:begin -->')
  const part = doc.slice(begin, doc.indexOf('<!-- labels-example:end -->'))
  assert.ok(begin >= 0)
  const yamlText = /```yaml\n([\s\S]*?)```/.exec(part)?.[1]
  const series = /```text\n([\s\S]*?)\n```/.exec(part)?.[1]
  assert.ok(yamlText !== undefined && series !== undefined)
  const config = parse(yamlText) as { spec: { labels: Record<string, string> } }
  const metrics = createGatewayMetrics({
    processMetrics: false,
    identity: gatewayIdentity(config.spec.labels),
  })
  metrics.recordRequest(request)
  const lines = (await metrics.text()).split('\n')
  assert.deepEqual(
    lines.filter((l) => l.startsWith('istio_requests_total{')),
    [series],
  )
})
