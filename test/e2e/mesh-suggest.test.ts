// `portcullis suggest serviceentries` next to an existing entry: a gateway in audit mode with a
// ServiceEntry for httpbin.org on its HTTP port sees plain HTTP pass and a CONNECT to another
// port audited. The suggestion must not be a second httpbin.org entry (it would compete with
// the first); the missing port is proposed as an addition to the existing entry, by file:line.
// And a configuration that does hold two entries for the host (the old suggestion) keeps plain
// HTTP to the first one's port working instead of 503 NC.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { runSuggest } from '../../src/cli/suggest.js'
import { startTestDnsServer, type TestDnsServer } from '../support/dns-server.js'
import { rawConnect } from './egress-kit.js'
import {
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  request,
  startGateway,
  startUpstream,
  type GatewayProcess,
  type Upstream,
} from './harness/index.js'

describe('suggest serviceentries next to an existing entry', () => {
  let dns: TestDnsServer
  let web: Upstream
  let tunnelled: Upstream
  const gateways: GatewayProcess[] = []

  before(async () => {
    dns = await startTestDnsServer()
    dns.records.set('httpbin.org', ['127.0.0.1'])
    web = await startUpstream({ name: 'httpbin' })
    tunnelled = await startUpstream({ name: 'tls-stand-in' })
  })

  after(async () => {
    await Promise.all(gateways.map((g) => g.cleanup()))
    await Promise.all([web?.close(), tunnelled?.close(), dns?.close()])
  })

  const httpbin = (
    name: string,
    port: number,
    protocol: string,
  ) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}}
spec:
  hosts: [httpbin.org]
  location: MESH_EXTERNAL
  ports: [{number: ${port}, name: p-${port}, protocol: ${protocol}}]
  resolution: DNS
`

  async function start(enforcement: string, entries: string[]) {
    const [proxy, readiness, admin] = await freePorts(3)
    const gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({
          readinessPort: readiness!,
          adminPort: admin!,
          accessLog: false,
          extraSpec: [
            `  outbound: {port: ${proxy}, address: 127.0.0.1}`,
            `  outboundTrafficPolicy: {mode: REGISTRY_ONLY, enforcement: ${enforcement}, allowPrivateAddresses: true}`,
            `  dns: {servers: ["${dns.address}"]}`,
          ],
        }),
        ...entries,
      ),
    })
    gateways.push(gw)
    return { proxy: proxy!, admin: admin! }
  }

  const getHttpbin = (proxy: number) =>
    request(`http://127.0.0.1:${proxy}/get`, { headers: { host: `httpbin.org:${web.port}` } })

  test('the missing port is an addition to the existing entry, not a second entry', async () => {
    const gw = await start('audit', [httpbin('httpbin', web.port, 'HTTP')])
    assert.equal((await getHttpbin(gw.proxy)).status, 200)
    const tunnel = await rawConnect(gw.proxy, `httpbin.org:${tunnelled.port}`)
    assert.equal(tunnel.status, 200, tunnel.text)
    let out = ''
    let err = ''
    const code = await runSuggest(['serviceentries', '--admin', `http://127.0.0.1:${gw.admin}`], {
      out: (s) => (out += s),
      err: (s) => (err += s),
    })
    assert.equal(code, 0, err)
    assert.doesNotMatch(out, /httpbin\.org/)
    assert.match(
      err,
      new RegExp(
        `# httpbin\\.org: add to ServiceEntry default/httpbin \\(.+\\.yaml:\\d+\\) under spec\\.ports:\\n#   - \\{number: ${tunnelled.port}, name: tcp-${tunnelled.port}, protocol: TCP\\}\\n`,
      ),
    )
  })

  test('two entries for one host (the old suggestion first) keep plain HTTP working', async () => {
    const gw = await start('enforce', [
      httpbin('httpbin-suggested', tunnelled.port, 'TCP'),
      httpbin('httpbin', web.port, 'HTTP'),
    ])
    const res = await getHttpbin(gw.proxy)
    assert.equal(res.status, 200, res.text)
    assert.equal(res.headers['x-upstream-name'], 'httpbin')
  })
})
