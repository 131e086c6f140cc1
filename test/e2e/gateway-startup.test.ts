// Starting the real gateway process: a config or a port it cannot use stops it with exit code 1
// and a message that says why; the built CLI runs from bin/.
import { describe, test } from 'node:test'
import type { TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { Server } from 'node:net'
import { join } from 'node:path'
import {
  REPO_ROOT,
  freePorts,
  gatewayConfigDoc,
  joinDocs,
  proxyRouteDocs,
  request,
  startGateway,
} from './harness/index.js'
import type { GatewayProcess } from './harness/index.js'

const EXIT_TIMEOUT_MS = 20_000
const BIN = join(REPO_ROOT, 'bin', 'portcullis')
const hasDist = existsSync(join(REPO_ROOT, 'dist', 'main.js'))
const NO_DIST = 'dist/ is missing: run `npm run build` to test bin/portcullis'

async function exitOf(gw: GatewayProcess): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<'timeout'>((r) => {
    timer = setTimeout(() => r('timeout'), EXIT_TIMEOUT_MS)
  })
  const result = await Promise.race([gw.exited, timeout])
  clearTimeout(timer)
  if (result === 'timeout') assert.fail(`still running after ${EXIT_TIMEOUT_MS} ms`)
  return result.code
}

function occupy(t: TestContext, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy())
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      t.after(() => new Promise<void>((r) => server.close(() => r())))
      resolve(server)
    })
  })
}

describe('gateway startup (real process)', () => {
  test('an invalid first config: exit 1 with the diagnostic on stderr', async (t) => {
    const [gatewayPort, readinessPort] = await freePorts(2)
    const valid = joinDocs(
      gatewayConfigDoc({ readinessPort: readinessPort! }),
      proxyRouteDocs({ gatewayPort: gatewayPort!, upstreamPort: 9 }),
    )
    const yaml = valid.replace('      protocol: HTTP\n', '      protocol: HTTP\n      bogus: 1\n')
    assert.notEqual(yaml, valid)
    const line = yaml.slice(0, yaml.indexOf('bogus: 1')).split('\n').length
    const gw = await startGateway({ yaml, waitForReady: false })
    t.after(() => gw.cleanup())
    assert.equal(await exitOf(gw), 1)
    const stderr = gw.stderr.join('\n')
    assert.match(
      stderr,
      new RegExp(`gateway\\.yaml:${line}:7 error PC1101 .*unknown field "bogus"`),
    )
    assert.match(stderr, /config rejected; not starting/)
    // Nothing was bound.
    const probe = await request(`http://127.0.0.1:${readinessPort}/healthz/ready`).catch(
      (err: Error) => err,
    )
    assert.ok(probe instanceof Error, 'the readiness port must not answer')
  })

  test('a YAML syntax error: exit 1 with file:line:col', async (t) => {
    const [gatewayPort, readinessPort] = await freePorts(2)
    const yaml = joinDocs(
      gatewayConfigDoc({ readinessPort: readinessPort! }),
      proxyRouteDocs({ gatewayPort: gatewayPort!, upstreamPort: 9 }),
    ).replace('hosts: [echo.upstream.test]', 'hosts: [echo.upstream.test')
    const gw = await startGateway({ yaml, waitForReady: false })
    t.after(() => gw.cleanup())
    assert.equal(await exitOf(gw), 1)
    assert.match(gw.stderr.join('\n'), /gateway\.yaml:\d+:\d+ error PC1002/)
  })

  test('an empty config: exit 1, nothing bound', async (t) => {
    const gw = await startGateway({ yaml: '', waitForReady: false })
    t.after(() => gw.cleanup())
    assert.equal(await exitOf(gw), 1)
    const stderr = gw.stderr.join('\n')
    assert.match(stderr, /gateway\.yaml:1:1 error PC1009: .*gateway\.yaml has no documents/)
    assert.match(stderr, /config rejected; not starting/)
  })

  test('a listener port already in use: exit 1 naming the port', async (t) => {
    const [gatewayPort, readinessPort] = await freePorts(2)
    await occupy(t, gatewayPort!)
    const gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({ readinessPort: readinessPort! }),
        proxyRouteDocs({ gatewayPort: gatewayPort!, upstreamPort: 9 }),
      ),
      waitForReady: false,
    })
    t.after(() => gw.cleanup())
    assert.equal(await exitOf(gw), 1)
    const stderr = gw.stderr.join('\n')
    assert.match(stderr, new RegExp(`127\\.0\\.0\\.1:${gatewayPort}\\b.*(EADDRINUSE|in use)`))
  })

  test('a readiness port already in use: exit 1 naming the port', async (t) => {
    const [gatewayPort, readinessPort] = await freePorts(2)
    await occupy(t, readinessPort!)
    const gw = await startGateway({
      yaml: joinDocs(
        gatewayConfigDoc({ readinessPort: readinessPort! }),
        proxyRouteDocs({ gatewayPort: gatewayPort!, upstreamPort: 9 }),
      ),
      waitForReady: false,
    })
    t.after(() => gw.cleanup())
    assert.equal(await exitOf(gw), 1)
    assert.match(gw.stderr.join('\n'), new RegExp(`${readinessPort}\\b.*(EADDRINUSE|in use)`))
  })

  test('bin/portcullis version', { skip: !hasDist && NO_DIST }, () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      version: string
    }
    // Run as an executable, as users do: the shebang and the mode bits must work.
    const res = spawnSync(BIN, ['version'], { encoding: 'utf8', timeout: EXIT_TIMEOUT_MS })
    assert.equal(res.status, 0, res.stderr)
    assert.equal(res.stdout, `portcullis ${pkg.version} (node ${process.version})\n`)
  })

  test('bin/portcullis run serves traffic', { skip: !hasDist && NO_DIST }, async (t) => {
    const [gatewayPort, readinessPort] = await freePorts(2)
    const gw = await startGateway({
      useBin: true,
      yaml: joinDocs(
        gatewayConfigDoc({ readinessPort: readinessPort!, accessLog: false }),
        `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: edge
spec:
  servers:
    - port: {number: ${gatewayPort}, name: http, protocol: HTTP}
      hosts: ['*']
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: hello
spec:
  hosts: ['*']
  gateways: [edge]
  http:
    - directResponse:
        status: 200
        body: {string: "hello from bin"}
`,
      ),
    })
    t.after(() => gw.cleanup())
    const res = await request(`http://127.0.0.1:${gatewayPort}/`)
    assert.equal(res.status, 200)
    assert.equal(res.text, 'hello from bin')
    assert.equal(await gw.stop('SIGTERM', EXIT_TIMEOUT_MS), 0)
  })
})
