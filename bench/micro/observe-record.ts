/**
 * Per-request cost of observe/: what the data plane pays in onRequestComplete.
 * Run: node --import tsx bench/micro/observe-record.ts
 *
 * Only the synchronous part is timed (the event-loop cost); the access-log file writes run on
 * libuv's thread pool and are drained between batches, outside the timed sections.
 */
import { Counter, Histogram, Registry } from 'prom-client'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { RequestRecord } from '../../src/observe/index.js'
import {
  compileAccessLogFormat,
  createGatewayMetrics,
  createObservers,
  DURATION_BUCKETS_MS,
  SIZE_BUCKETS_BYTES,
} from '../../src/observe/index.js'

const BATCH = 10_000
const BATCHES = 100
const ROUTES = ['default/api/http[0]', 'default/api/http[1]', 'default/web/http[0]']
const SERVICES = ['api.example.com', 'api.example.com', 'web.example.com']

function makeRecords(): RequestRecord[] {
  const records: RequestRecord[] = []
  for (let i = 0; i < BATCH; i++) {
    const failed = i % 50 === 0
    records.push({
      startTime: 1_795_000_000_000 + i,
      durationMs: (i % 400) + 0.3,
      method: 'GET',
      path: `/items/${i % 100}?page=2`,
      protocol: 'HTTP/1.1',
      scheme: 'https',
      authority: SERVICES[i % 3]!,
      requestHeaders: {
        host: SERVICES[i % 3]!,
        'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) bench',
        'x-forwarded-for': '203.0.113.7',
        'x-request-id': `6b1f3c2e-0000-4000-8000-${String(i).padStart(12, '0')}`,
      },
      responseHeaders: { 'content-type': 'application/json' },
      requestId: `6b1f3c2e-0000-4000-8000-${String(i).padStart(12, '0')}`,
      status: failed ? 503 : 200,
      responseFlags: failed ? 'UF' : '-',
      responseCodeDetails: failed ? 'upstream_reset_before_response_started' : 'via_upstream',
      bytesReceived: 0,
      bytesSent: 1200 + (i % 4000),
      upstreamHost: '127.0.0.1:8080',
      upstreamCluster: `outbound|443||${SERVICES[i % 3]!}`,
      upstreamServiceTimeMs: (i % 300) + 0.1,
      destinationService: SERVICES[i % 3]!,
      routeName: ROUTES[i % 3]!,
      listener: '0.0.0.0:443',
      downstreamRemoteAddress: '192.0.2.10:53124',
      downstreamLocalAddress: '10.0.0.5:443',
      requestedServerName: SERVICES[i % 3]!,
    })
  }
  return records
}

async function measure(
  name: string,
  perRecord: (rec: RequestRecord) => unknown,
  between?: () => Promise<void>,
): Promise<void> {
  const records = makeRecords()
  let elapsed = 0n
  for (let round = -10; round < BATCHES; round++) {
    const start = process.hrtime.bigint()
    for (const rec of records) perRecord(rec)
    const took = process.hrtime.bigint() - start
    if (round >= 0) elapsed += took // the first rounds are JIT warm-up
    if (between !== undefined) await between()
  }
  const ns = Number(elapsed) / (BATCH * BATCHES)
  console.log(`${name.padEnd(44)} ${ns.toFixed(0).padStart(6)} ns/record`)
}

function promClientBaseline(): (rec: RequestRecord) => void {
  const registry = new Registry()
  const labelNames = [
    'destination_service',
    'destination_service_name',
    'response_code',
    'response_flags',
    'route_name',
  ] as const
  const opts = { labelNames, registers: [registry] }
  const requests = new Counter({ name: 'requests_total', help: 'h', ...opts })
  const duration = new Histogram({
    name: 'duration',
    help: 'h',
    buckets: [...DURATION_BUCKETS_MS],
    ...opts,
  })
  const reqBytes = new Histogram({
    name: 'req_bytes',
    help: 'h',
    buckets: [...SIZE_BUCKETS_BYTES],
    ...opts,
  })
  const resBytes = new Histogram({
    name: 'res_bytes',
    help: 'h',
    buckets: [...SIZE_BUCKETS_BYTES],
    ...opts,
  })
  type Children = [
    Counter.Internal,
    Histogram.Internal<string>,
    Histogram.Internal<string>,
    Histogram.Internal<string>,
  ]
  const cache = new Map<string, Children>()
  return (rec) => {
    const key = `${rec.destinationService}\u0000${rec.status}\u0000${rec.responseFlags}\u0000${rec.routeName}`
    let children = cache.get(key)
    if (children === undefined) {
      const values = [
        rec.destinationService ?? 'unknown',
        'x',
        String(rec.status),
        rec.responseFlags,
        rec.routeName ?? 'unknown',
      ]
      children = [
        requests.labels(...values),
        duration.labels(...values),
        reqBytes.labels(...values),
        resBytes.labels(...values),
      ]
      cache.set(key, children)
    }
    children[0].inc()
    children[1].observe(rec.durationMs)
    children[2].observe(rec.bytesReceived)
    children[3].observe(rec.bytesSent)
  }
}

function compiled(format: string, encoding: 'TEXT' | 'JSON'): (rec: RequestRecord) => string {
  const result = compileAccessLogFormat(format, encoding)
  if (!result.ok) throw new Error(result.error)
  return result.formatter
}

const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'))
try {
  const metrics = createGatewayMetrics({ processMetrics: false })
  await measure('metrics: istio_* accounting', (rec) => metrics.recordRequest(rec))
  await measure('metrics: prom-client labelled children (ref)', promClientBaseline())
  await measure('access log: default TEXT format', compiled('', 'TEXT'))
  await measure('access log: default JSON format', compiled('', 'JSON'))

  const disabled = createObservers({
    accessLog: { disabled: true, path: '/dev/null', format: '', encoding: 'TEXT' },
    processMetrics: false,
  })
  await measure('observer: log disabled (metrics only)', (rec) =>
    disabled.request.onRequestComplete(rec),
  )

  const logging = createObservers({
    accessLog: { disabled: false, path: join(dir, 'access.log'), format: '', encoding: 'TEXT' },
    processMetrics: false,
  })
  await measure(
    'observer: metrics + TEXT log to a file',
    (rec) => logging.request.onRequestComplete(rec),
    () => logging.flush(),
  )
  await logging.close()
  const text = await logging.metricsText()
  const dropped = /^portcullis_access_log_dropped_lines_total (\d+)$/m.exec(text)?.[1]
  console.log(`(access-log lines dropped during the run: ${dropped ?? '?'})`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
