// docs/mesh.md's examples as printed: the GatewayConfig and resources load and compile without
// errors into the domains the page lists, and its curl commands, run by the shell against a
// gateway started from those blocks (with only test ports for readiness, admin and metrics
// added), are answered by the version each comment names. Stand-ins listen on the endpoint
// ports the page prints (127.0.0.1:9081 and :9082); the listeners bind 15001 and 9080.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { Resolver } from 'node:dns'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { compile } from '../../src/compile/index.js'
import { loadConfigText } from '../../src/config/index.js'
import {
  REPO_ROOT,
  freePorts,
  hasCurl,
  startGateway,
  type GatewayProcess,
} from './harness/index.js'

const md = readFileSync(join(REPO_ROOT, 'docs', 'mesh.md'), 'utf8')

function block(name: string): string {
  const text = new RegExp(
    `<!-- mesh-example:${name} -->\\s*\`\`\`(?:yaml|sh)\\n([\\s\\S]*?)\`\`\``,
  ).exec(md)?.[1]
  assert.ok(text !== undefined, `docs/mesh.md has the ${name} block`)
  return text
}

const config = block('config')
const resources = block('resources')

test('the docs/mesh.md configuration compiles into the names the page lists', () => {
  const loaded = loadConfigText({ 'gateway.yaml': `${config}---\n${resources}` })
  assert.deepEqual(
    loaded.diagnostics.filter((d) => d.severity === 'error'),
    [],
  )
  const { snapshot, diagnostics } = compile(loaded.resources)
  assert.deepEqual(
    diagnostics.filter((d) => d.severity === 'error'),
    [],
  )
  assert.deepEqual(
    snapshot.egress?.outboundListeners?.map((l) => l.id),
    ['127.0.0.1:15001', '127.0.0.1:9080'],
  )
  const vh = snapshot.egress?.routeTables['9080']?.virtualHosts[0]
  assert.deepEqual(vh?.domains, [
    'reviews.default.svc.cluster.local',
    'reviews.default.svc.cluster.local:9080',
    'reviews',
    'reviews:9080',
    'reviews.default.svc',
    'reviews.default.svc:9080',
    'reviews.default',
    'reviews.default:9080',
  ])
})

test('the docs/egress.md listener example compiles, and its dns.servers forms are accepted', () => {
  const egress = readFileSync(join(REPO_ROOT, 'docs', 'egress.md'), 'utf8')
  const first = /```yaml\n([\s\S]*?)```/.exec(egress)?.[1]
  assert.ok(first !== undefined)
  const loaded = loadConfigText({ 'gateway.yaml': first })
  assert.deepEqual(
    loaded.diagnostics.filter((d) => d.severity === 'error'),
    [],
  )
  const { snapshot } = compile(loaded.resources)
  const servers = snapshot.egress?.dnsServers ?? []
  assert.deepEqual(servers, ['10.0.0.2', '10.0.0.3:5353'])
  new Resolver().setServers([...servers, '[::1]:5353'])
})

test('the docs/egress.md SNI port mapping compiles into an 8443 listener admitting 443', () => {
  const egress = readFileSync(join(REPO_ROOT, 'docs', 'egress.md'), 'utf8')
  const spec = /<!-- egress-example:sni-port-mapping -->\s*```yaml\n([\s\S]*?)```/.exec(egress)?.[1]
  assert.ok(spec !== undefined)
  const unindented = spec.replace(/^ {2}/gm, '')
  const loaded = loadConfigText({
    'gateway.yaml': `apiVersion: portcullis.io/v1alpha1\nkind: GatewayConfig\nmetadata: {name: gw}\n${unindented}`,
  })
  assert.deepEqual(
    loaded.diagnostics.filter((d) => d.severity === 'error'),
    [],
  )
  const { snapshot } = compile(loaded.resources)
  assert.deepEqual(
    snapshot.egress?.sniListeners?.map((l) => l.port),
    [8443],
  )
  assert.deepEqual(snapshot.egress?.sniServicePorts, { '8443': 443 })
})

describe('the docs/mesh.md requests', { skip: !hasCurl() && 'curl is not installed' }, () => {
  const servers: Server[] = []
  let gw: GatewayProcess

  before(async () => {
    for (const [name, port] of [
      ['reviews-v1', 9081],
      ['reviews-v2', 9082],
    ] as const) {
      const server = createServer((req, res) => {
        req.resume()
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ name, host: req.headers.host, url: req.url }))
      })
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, '127.0.0.1', () => resolve())
      })
      servers.push(server)
    }
    const [readiness] = await freePorts(1)
    const testPorts = [
      '  admin: { port: 0 }',
      '  metrics: { port: 0 }',
      `  readiness: { port: ${readiness} }`,
      '  accessLog: { disabled: true }',
      '',
    ].join('\n')
    gw = await startGateway({ yaml: `${config}${testPorts}---\n${resources}` })
  })

  after(async () => {
    await gw?.cleanup()
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  })

  test('each command is answered by the version its comment names', async () => {
    const proxyVars = new Set(['http_proxy', 'https_proxy', 'all_proxy'])
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !proxyVars.has(k.toLowerCase())),
    )
    const lines = block('requests').trim().split('\n')
    assert.equal(lines.length, 5)
    for (const line of lines) {
      const hash = line.lastIndexOf(' # ')
      const command = line.slice(0, hash)
      const expected = line.slice(hash + 3)
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile('sh', ['-c', command], { env, timeout: 10_000 }, (err, out) =>
          err ? reject(err) : resolve(out),
        ),
      )
      assert.equal((JSON.parse(stdout) as { name: string }).name, expected, command)
    }
  })
})
