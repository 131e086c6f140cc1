/**
 * Egress visibility across modules: the data plane's decisions reach the Istio metrics (under
 * BlackHoleCluster / PassthroughCluster), portcullis_egress_requests_total, the access log (one
 * line per request, audit flag included) and the admin API's recent destinations.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ProxyAgent, request } from 'undici'
import { createAdminApi } from '../../src/admin/index.js'
import { compile } from '../../src/compile/index.js'
import { loadConfigText } from '../../src/config/index.js'
import { createDataPlane } from '../../src/dataplane/index.js'
import { closedPort, startUpstream } from '../support/http-harness.js'
import { startTestDnsServer } from '../support/dns-server.js'
import { silentLogger } from '../../src/lib/index.js'
import { createObservers, type EgressObservation } from '../../src/observe/index.js'
import { createRuntimeView, createSnapshotStore } from '../../src/runtime/index.js'

function snapshotFor(outboundPort: number, policy: string) {
  const loaded = loadConfigText({
    'gateway.yaml': `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  outbound: {port: ${outboundPort}, address: 127.0.0.1}
  outboundTrafficPolicy: ${policy}
`,
  })
  assert.deepEqual(
    loaded.diagnostics.filter((d) => d.severity === 'error'),
    [],
  )
  return compile(loaded.resources).snapshot
}

test('egress decisions show in metrics, the access log and the admin API', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'egress-visibility-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const logPath = join(dir, 'access.log')
  const upstream = await startUpstream(t, 'unknown')
  const dns = await startTestDnsServer()
  t.after(() => dns.close())
  dns.records.set('unknown.test', ['127.0.0.1'])

  const observers = createObservers({
    accessLog: { disabled: false, path: logPath, format: '', encoding: 'JSON' },
    processMetrics: false,
  })
  t.after(() => observers.close())
  const dataPlane = createDataPlane({
    observer: observers.request,
    egress: observers.egress,
    log: silentLogger,
    upstream: { dns: { servers: [dns.address] } },
  })
  t.after(() => dataPlane.drain(0))
  const runtime = createRuntimeView({
    snapshots: createSnapshotStore().view,
    dataPlane,
    reloader: { reload: () => Promise.reject(new Error('not in this test')) },
    egress: observers.egress,
  })
  const admin = createAdminApi(runtime, silentLogger)
  t.after(() => admin.close())

  const proxyPort = await closedPort()
  const agent = new ProxyAgent({ uri: `http://127.0.0.1:${proxyPort}`, proxyTunnel: false })
  t.after(() => agent.close())
  const target = `http://unknown.test:${upstream.port}`
  const apply = async (policy: string) =>
    dataPlane.activate(await dataPlane.prepare(snapshotFor(proxyPort, policy)))

  // REGISTRY_ONLY: refused with 502, never sent.
  await apply('{mode: REGISTRY_ONLY}')
  const denied = await request(`${target}/denied`, {
    dispatcher: agent,
    headers: { 'x-request-id': 'denied-1' },
  })
  assert.equal(denied.statusCode, 502)
  await denied.body.text()
  assert.equal(upstream.seen.length, 0)

  // ALLOW_ANY: an unknown host passes through.
  await apply('{mode: ALLOW_ANY, allowPrivateAddresses: true}')
  const passed = await request(`${target}/passthrough`, { dispatcher: agent })
  assert.equal(passed.statusCode, 200)
  await passed.body.text()

  // Audit: let through, recorded as what enforcement would refuse.
  await apply('{mode: REGISTRY_ONLY, enforcement: audit, allowPrivateAddresses: true}')
  for (let i = 0; i < 2; i++) {
    const audited = await request(`${target}/audited`, { dispatcher: agent })
    assert.equal(audited.statusCode, 200)
    await audited.body.text()
  }
  assert.deepEqual(
    upstream.seen.map((r) => r.url),
    ['/passthrough', '/audited', '/audited'],
  )

  const metrics = await observers.metricsText()
  const istio = (service: string, code: number, flags: string) =>
    new RegExp(
      `istio_requests_total\\{[^}]*destination_service="${service}",destination_service_name="${service}",response_code="${code}",response_flags="${flags}"[^}]*\\} (\\d+)`,
    ).exec(metrics)?.[1]
  assert.equal(istio('BlackHoleCluster', 502, 'EG'), '1')
  assert.equal(istio('PassthroughCluster', 200, '-'), '1')
  assert.equal(istio('PassthroughCluster', 200, 'EG'), '2')
  const egress = (decision: string) =>
    new RegExp(
      `portcullis_egress_requests_total\\{decision="${decision}",host="unknown.test",port="${upstream.port}"\\} (\\d+)`,
    ).exec(metrics)?.[1]
  assert.equal(egress('denied'), '1')
  assert.equal(egress('passthrough'), '1')
  assert.equal(egress('audited'), '2')
  // Nothing is recorded with status 0 (a request counted twice).
  assert.doesNotMatch(metrics, /response_code="0"/)

  // One access-log line per request, the audited ones flagged with the reason.
  await observers.flush()
  const lines = (await readFile(logPath, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
  assert.deepEqual(
    lines.map((l) => [l.path, l.response_code, l.response_flags, l.response_code_details]),
    [
      ['/denied', 502, 'EG', 'egress_denied:host_not_registered'],
      ['/passthrough', 200, '-', 'via_upstream'],
      ['/audited', 200, 'EG', 'egress_audited:host_not_registered'],
      ['/audited', 200, 'EG', 'egress_audited:host_not_registered'],
    ],
  )
  // A refusal still logs the id the client sent, as Envoy does.
  assert.equal(lines[0]?.['request_id'], 'denied-1')

  // The admin API lists the recent destinations.
  const deniedList = (await admin.inject({ method: 'GET', url: '/egress/denied' })).json<{
    destinations: EgressObservation[]
  }>().destinations
  assert.equal(deniedList.length, 1)
  assert.equal(deniedList[0]?.host, 'unknown.test')
  assert.equal(deniedList[0]?.port, upstream.port)
  assert.equal(deniedList[0]?.protocol, 'HTTP')
  assert.equal(deniedList[0]?.reason, 'host_not_registered')
  assert.equal(deniedList[0]?.source, '127.0.0.1')
  const observed = (await admin.inject({ method: 'GET', url: '/egress/observed' })).json<{
    destinations: EgressObservation[]
  }>().destinations
  assert.deepEqual(
    observed.map((o) => [o.decision, o.host, o.count]),
    [
      ['audited', 'unknown.test', 2],
      ['passthrough', 'unknown.test', 1],
    ],
  )
})
