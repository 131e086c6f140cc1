/**
 * Audit → suggest → enforce: traffic let through in audit mode, turned into ServiceEntries by
 * `portcullis suggest serviceentries` (from the admin API and from the access log), passes under
 * REGISTRY_ONLY enforcement once the suggestion is applied.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ProxyAgent, request } from 'undici'
import { createAdminApi } from '../../src/admin/index.js'
import { runSuggest } from '../../src/cli/index.js'
import { compile } from '../../src/compile/index.js'
import { loadConfigText } from '../../src/config/index.js'
import { createDataPlane } from '../../src/dataplane/index.js'
import { closedPort, startUpstream } from '../support/http-harness.js'
import { startTestDnsServer } from '../support/dns-server.js'
import { silentLogger } from '../../src/lib/index.js'
import { createObservers } from '../../src/observe/index.js'
import { createRuntimeView, createSnapshotStore } from '../../src/runtime/index.js'

function gatewayConfig(outboundPort: number, enforcement: string): string {
  return `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata: {name: gw}
spec:
  outbound: {port: ${outboundPort}, address: 127.0.0.1}
  outboundTrafficPolicy: {mode: REGISTRY_ONLY, enforcement: ${enforcement}, allowPrivateAddresses: true}
`
}

function load(yaml: string) {
  const loaded = loadConfigText({ 'gateway.yaml': yaml })
  return { loaded, compiled: compile(loaded.resources) }
}

/** CONNECT, then one HTTP request through the tunnel; resolves with everything read. */
function connectAndGet(proxyPort: number, target: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(proxyPort, '127.0.0.1', () =>
      s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`),
    )
    let buf = ''
    let sent = false
    s.setEncoding('latin1')
    s.on('data', (d: string) => {
      buf += d
      if (!sent && buf.startsWith('HTTP/1.1 200') && buf.includes('\r\n\r\n')) {
        sent = true
        buf = ''
        s.write(`GET ${path} HTTP/1.1\r\nHost: ${target}\r\nConnection: close\r\n\r\n`)
      }
    })
    s.on('close', () => resolve(buf))
    s.on('error', reject)
    setTimeout(() => s.destroy(), 3000).unref()
  })
}

test('audit, suggest serviceentries, apply: the same traffic passes under enforcement', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'egress-suggest-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const logPath = join(dir, 'access.log')
  const api = await startUpstream(t, 'api')
  const tunnelled = await startUpstream(t, 'tunnelled')
  const dns = await startTestDnsServer()
  t.after(() => dns.close())
  dns.records.set('api.example.test', ['127.0.0.1'])
  dns.records.set('db.example.test', ['127.0.0.1'])

  const observers = createObservers({
    accessLog: { disabled: false, path: logPath, format: '', encoding: 'TEXT' },
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
  // The snapshot the admin API serves (its /config_dump names the entries that exist already).
  const snapshots = createSnapshotStore()
  const admin = createAdminApi(
    createRuntimeView({
      snapshots: snapshots.view,
      dataPlane,
      reloader: { reload: () => Promise.reject(new Error('not in this test')) },
      egress: observers.egress,
    }),
    silentLogger,
  )
  t.after(() => admin.close())
  const adminUrl = await admin.listen({ host: '127.0.0.1', port: 0 })

  const proxyPort = await closedPort()
  const agent = new ProxyAgent({ uri: `http://127.0.0.1:${proxyPort}`, proxyTunnel: false })
  t.after(() => agent.close())
  const traffic = async (label: string) => {
    const res = await request(`http://api.example.test:${api.port}/${label}`, {
      dispatcher: agent,
    })
    const tunnel = await connectAndGet(proxyPort, `db.example.test:${tunnelled.port}`, `/${label}`)
    return { status: res.statusCode, body: await res.body.text(), tunnel }
  }

  // Audit: both destinations pass and are recorded.
  const audit = load(gatewayConfig(proxyPort, 'audit'))
  dataPlane.activate(await dataPlane.prepare(audit.compiled.snapshot))
  snapshots.swap(audit.compiled.snapshot, { sourceHash: 'audit', files: [], at: Date.now() })
  const audited = await traffic('audit')
  assert.equal(audited.status, 200)
  assert.match(audited.tunnel, /^HTTP\/1\.1 200 OK/)
  assert.equal(api.seen.at(-1)?.url, '/audit')
  assert.equal(tunnelled.seen.at(-1)?.url, '/audit')

  // Suggest from the admin API and from the access log: the same ServiceEntries.
  const run = async (argv: string[]) => {
    let out = ''
    let err = ''
    const code = await runSuggest(argv, { out: (s) => (out += s), err: (s) => (err += s) })
    return { code, out, err }
  }
  const fromAdmin = await run(['serviceentries', '--admin', adminUrl])
  assert.equal(fromAdmin.code, 0, fromAdmin.err)
  await observers.flush()
  assert.equal((await readFile(logPath, 'utf8')).trim().split('\n').length, 2)
  const fromLog = await run(['serviceentries', '--access-log', logPath])
  assert.equal(fromLog.code, 0, fromLog.err)
  assert.equal(fromLog.out, fromAdmin.out)
  assert.equal(
    fromAdmin.out,
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: egress-api-example-test
spec:
  hosts:
  - api.example.test
  location: MESH_EXTERNAL
  ports:
  - number: ${api.port}
    name: http-${api.port}
    protocol: HTTP
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: egress-db-example-test
spec:
  hosts:
  - db.example.test
  location: MESH_EXTERNAL
  ports:
  - number: ${tunnelled.port}
    name: tcp-${tunnelled.port}
    protocol: TCP
  resolution: DNS
`,
  )

  // Enforcing without the suggestion refuses both, with no upstream request.
  const seenBefore = api.seen.length + tunnelled.seen.length
  const bare = load(gatewayConfig(proxyPort, 'enforce'))
  dataPlane.activate(await dataPlane.prepare(bare.compiled.snapshot))
  const refused = await traffic('refused')
  assert.equal(refused.status, 502)
  assert.match(refused.tunnel, /^HTTP\/1\.1 403 Forbidden/)
  assert.equal(api.seen.length + tunnelled.seen.length, seenBefore)

  // Enforcing with the suggestion applied: it validates cleanly and the traffic passes.
  const enforced = load(`${gatewayConfig(proxyPort, 'enforce')}---\n${fromAdmin.out}`)
  assert.deepEqual(
    enforced.loaded.diagnostics.concat(enforced.compiled.diagnostics ?? []).map((d) => d.code),
    [],
  )
  dataPlane.activate(await dataPlane.prepare(enforced.compiled.snapshot))
  const passed = await traffic('enforced')
  assert.equal(passed.status, 200)
  assert.match(passed.tunnel, /^HTTP\/1\.1 200 OK/)
  assert.equal(api.seen.at(-1)?.url, '/enforced')
  assert.equal(tunnelled.seen.at(-1)?.url, '/enforced')
})
