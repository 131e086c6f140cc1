import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { RequestRecord } from './events.js'
import { gatewayIdentity } from './istio-labels.js'
import { createGatewayMetrics } from './metrics.js'

const base: RequestRecord = {
  startTime: Date.UTC(2026, 10, 22, 2, 27, 29, 123),
  durationMs: 7,
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
  bytesSent: 500,
  upstreamHost: '127.0.0.1:8080',
  upstreamCluster: 'outbound|80||httpbin.example.com',
  upstreamServiceTimeMs: 5,
  destinationService: 'httpbin.example.com',
  routeName: 'default/httpbin/http[0]',
  listener: '0.0.0.0:80',
  downstreamRemoteAddress: '192.0.2.10:1234',
  downstreamLocalAddress: '10.0.0.5:80',
  requestedServerName: undefined,
}

const SOURCE =
  'reporter="source",source_workload="portcullis",source_workload_namespace="unknown",' +
  'source_principal="unknown",source_app="unknown",source_version="unknown",' +
  'source_canonical_service="portcullis",source_canonical_revision="latest",' +
  'source_cluster="unknown",destination_workload="unknown",' +
  'destination_workload_namespace="unknown",destination_principal="unknown",' +
  'destination_app="unknown",destination_version="unknown",' +
  'destination_canonical_service="unknown",destination_canonical_revision="unknown",' +
  'destination_cluster="unknown",connection_security_policy="unknown"'

const CONSTANT = `${SOURCE},request_protocol="http",destination_service_namespace="unknown"`

const OK_LABELS =
  `${CONSTANT},destination_service="httpbin.example.com",destination_service_name="httpbin",` +
  'response_code="200",response_flags="-",route_name="default/httpbin/http[0]"'

const NR_LABELS =
  `${CONSTANT},destination_service="unknown",destination_service_name="unknown",` +
  'response_code="404",response_flags="NR",route_name="unknown"'

function linesOf(text: string): Set<string> {
  return new Set(text.split('\n'))
}

describe('gateway metrics', () => {
  test('request records become Istio counters and histograms with exact values', async () => {
    const metrics = createGatewayMetrics({ processMetrics: false })
    for (let i = 0; i < 3; i++) metrics.recordRequest({ ...base, durationMs: 7 + i })
    metrics.recordRequest({ ...base, durationMs: 4000, bytesReceived: 20, bytesSent: 2_000_000 })
    const noRoute = {
      ...base,
      status: 404,
      responseFlags: 'NR',
      routeName: undefined,
      destinationService: undefined,
      durationMs: 0.2,
      bytesSent: 0,
    }
    metrics.recordRequest(noRoute)
    metrics.recordRequest(noRoute)

    const lines = linesOf(await metrics.text())
    const expected = [
      '# TYPE istio_requests_total counter',
      `istio_requests_total{${OK_LABELS}} 4`,
      `istio_requests_total{${NR_LABELS}} 2`,
      '# TYPE istio_request_duration_milliseconds histogram',
      `istio_request_duration_milliseconds_bucket{${OK_LABELS},le="5"} 0`,
      `istio_request_duration_milliseconds_bucket{${OK_LABELS},le="10"} 3`,
      `istio_request_duration_milliseconds_bucket{${OK_LABELS},le="2500"} 3`,
      `istio_request_duration_milliseconds_bucket{${OK_LABELS},le="5000"} 4`,
      `istio_request_duration_milliseconds_bucket{${OK_LABELS},le="3600000"} 4`,
      `istio_request_duration_milliseconds_bucket{${OK_LABELS},le="+Inf"} 4`,
      `istio_request_duration_milliseconds_sum{${OK_LABELS}} 4024`,
      `istio_request_duration_milliseconds_count{${OK_LABELS}} 4`,
      `istio_request_duration_milliseconds_bucket{${NR_LABELS},le="0.5"} 2`,
      `istio_request_bytes_bucket{${OK_LABELS},le="1"} 3`,
      `istio_request_bytes_bucket{${OK_LABELS},le="100"} 4`,
      `istio_request_bytes_sum{${OK_LABELS}} 20`,
      `istio_response_bytes_bucket{${OK_LABELS},le="1000"} 3`,
      `istio_response_bytes_bucket{${OK_LABELS},le="1000000"} 3`,
      `istio_response_bytes_bucket{${OK_LABELS},le="10000000"} 4`,
      `istio_response_bytes_count{${OK_LABELS}} 4`,
      `istio_response_bytes_bucket{${NR_LABELS},le="1"} 2`,
    ]
    for (const line of expected) assert.ok(lines.has(line), `missing line: ${line}`)
  })

  test('label values are escaped and series beyond the bound are folded into overflow', async () => {
    const metrics = createGatewayMetrics({ processMetrics: false, maxSeries: 2 })
    metrics.recordRequest({ ...base, routeName: 'a"b\\c' })
    metrics.recordRequest({ ...base, routeName: 'r2' })
    for (let i = 0; i < 5; i++) metrics.recordRequest({ ...base, routeName: `r${i + 3}` })
    metrics.recordRequest({ ...base, routeName: 'r9', status: 503, responseFlags: 'UF' })

    const text = await metrics.text()
    const lines = linesOf(text)
    assert.ok(
      lines.has(
        `istio_requests_total{${OK_LABELS.replace('default/httpbin/http[0]', 'a\\"b\\\\c')}} 1`,
      ),
    )
    const overflow =
      `${CONSTANT},destination_service="overflow",destination_service_name="overflow",` +
      'response_code="200",response_flags="-",route_name="overflow"'
    assert.ok(lines.has(`istio_requests_total{${overflow}} 5`), text)
    const overflowUF = overflow.replace('"200"', '"503"').replace('"-"', '"UF"')
    assert.ok(lines.has(`istio_requests_total{${overflowUF}} 1`))
    assert.equal(text.match(/^istio_requests_total\{/gm)?.length, 4)
  })

  test('the gateway identity comes from its labels, with the keys and fallbacks Istio uses', async () => {
    const metrics = createGatewayMetrics({
      processMetrics: false,
      buildTag: '1.2.3',
      identity: gatewayIdentity({
        'service.istio.io/workload-name': 'edge-gateway',
        'portcullis.io/namespace': 'istio-system',
        app: 'istio-ingressgateway',
        version: 'v7',
        'topology.istio.io/cluster': 'Kubernetes',
      }),
    })
    metrics.recordRequest({ ...base, destinationService: 'httpbin.default.svc.cluster.local' })
    metrics.recordConnectionClose({ ...base, destinationService: 'db.data.svc.cluster.local' })
    const text = await metrics.text()
    const source =
      'reporter="source",source_workload="edge-gateway",source_workload_namespace="istio-system",' +
      'source_principal="unknown",source_app="istio-ingressgateway",source_version="v7",' +
      'source_canonical_service="istio-ingressgateway",source_canonical_revision="v7",' +
      'source_cluster="Kubernetes",'
    assert.ok(text.includes(`istio_requests_total{${source}`), text)
    assert.match(
      text,
      /istio_requests_total\{[^}]*request_protocol="http",destination_service_namespace="default",destination_service="httpbin.default.svc.cluster.local",destination_service_name="httpbin",/,
    )
    assert.match(
      text,
      /istio_tcp_sent_bytes_total\{reporter="source",source_workload="edge-gateway",[^}]*request_protocol="tcp",destination_service_namespace="data",destination_service="db.data.svc.cluster.local"/,
    )
    assert.ok(linesOf(text).has('istio_build{component="proxy",tag="1.2.3"} 1'), text)
    // Canonical names win over app/version when set.
    const named = gatewayIdentity({
      app: 'a',
      version: 'v1',
      'service.istio.io/canonical-name': 'edge',
      'service.istio.io/canonical-revision': 'r2',
    })
    assert.equal(named.canonicalService, 'edge')
    assert.equal(named.canonicalRevision, 'r2')
    assert.equal(named.app, 'a')
  })

  test('gRPC requests count as request_protocol="grpc" with the grpc-status of the trailers or the head', async () => {
    const metrics = createGatewayMetrics({ processMetrics: false })
    const grpc = { ...base, requestHeaders: { 'content-type': 'application/grpc+proto' } }
    metrics.recordRequest({ ...grpc, responseHeaders: { 'grpc-status': '14' } })
    metrics.recordRequest({ ...grpc, responseHeaders: { 'grpc-status': '14' } })
    metrics.recordRequest({ ...grpc, responseHeaders: { 'content-type': 'application/grpc' } })
    // The trailers' status wins over the head's.
    metrics.recordRequest({ ...grpc, grpcStatus: '0', responseHeaders: { 'grpc-status': '14' } })
    metrics.recordRequest(base)
    const lines = linesOf(await metrics.text())
    const grpcLabels = OK_LABELS.replace('request_protocol="http"', 'request_protocol="grpc"')
    assert.ok(lines.has(`istio_requests_total{${grpcLabels},grpc_response_status="14"} 2`))
    assert.ok(lines.has(`istio_requests_total{${grpcLabels},grpc_response_status="unknown"} 1`))
    assert.ok(lines.has(`istio_requests_total{${grpcLabels},grpc_response_status="0"} 1`))
    assert.ok(lines.has(`istio_requests_total{${OK_LABELS}} 1`))
  })

  test('reloads, config version and dropped access-log lines are exported', async () => {
    let dropped = 0
    const metrics = createGatewayMetrics({ droppedAccessLogLines: () => dropped })
    const before = linesOf(await metrics.text())
    assert.ok(before.has('portcullis_config_reloads_total{result="rejected"} 0'))
    assert.ok(before.has('portcullis_access_log_dropped_lines_total 0'))

    const start = Date.now() / 1000
    metrics.recordReload('applied', 1)
    metrics.recordReload('unchanged', 1)
    metrics.recordReload('applied', 2)
    metrics.recordReload('rejected', 2)
    dropped = 7
    const text = await metrics.text()
    const lines = linesOf(text)
    assert.ok(lines.has('portcullis_config_reloads_total{result="applied"} 2'))
    assert.ok(lines.has('portcullis_config_reloads_total{result="unchanged"} 1'))
    assert.ok(lines.has('portcullis_config_reloads_total{result="rejected"} 1'))
    assert.ok(lines.has('portcullis_config_version 2'))
    assert.ok(lines.has('portcullis_access_log_dropped_lines_total 7'))
    const stamp = /^portcullis_config_last_reload_success_timestamp_seconds (\S+)$/m.exec(text)
    assert.ok(stamp !== null && Number(stamp[1]) >= Math.floor(start))
    assert.match(text, /^portcullis_process_cpu_user_seconds_total /m)
    assert.match(text, /^portcullis_nodejs_heap_size_used_bytes /m)

    dropped = 9
    assert.ok(linesOf(await metrics.text()).has('portcullis_access_log_dropped_lines_total 9'))
    assert.equal(metrics.contentType, 'text/plain; version=0.0.4; charset=utf-8')
  })
})
