// The container image without a container engine: its exact entrypoint, command and default
// config, at the paths and as the user the Dockerfile gives, on a read-only root filesystem,
// inside a network namespace of its own. Probed from outside the namespace, as a kubelet or a
// load balancer would: traffic on 8080, readiness on 15021, the HEALTHCHECK, admin not exposed,
// and SIGTERM ends it cleanly within the drain timeout.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { REPO_ROOT } from '../e2e/harness/index.js'
import { readImageSpec } from './dockerfile.js'
import { enterImageScript, layImage, type ImageLayout } from './image-layout.js'
import { createNetns, netnsUnavailable, type Netns } from './netns.js'

const skip = netnsUnavailable()
const spec = readImageSpec(REPO_ROOT)
// The one substitution: the image's node (/nodejs/bin/node in distroless) is this test's node.
const NODE = process.execPath
const withNode = (argv: string[]): string[] => [NODE, ...argv.slice(1)]

function imageConfig(): { drainTimeoutMs: number; httpPort: number; readinessPort: number } {
  const config = spec.cmd[spec.cmd.indexOf('-c') + 1]!
  const copy = spec.copies.find((c) => c.to === config)
  assert.ok(copy, `the Dockerfile copies a default config to ${config}`)
  const docs = parseAllDocuments(readFileSync(join(REPO_ROOT, copy.from), 'utf8')).map(
    (d) => d.toJS() as { kind: string; spec: Record<string, unknown> },
  )
  const gc = docs.find((d) => d.kind === 'GatewayConfig')!.spec as {
    bindAddress: string
    drainTimeout: string
    readiness: { port: number }
  }
  assert.equal(gc.bindAddress, '0.0.0.0', 'the image listens on every address')
  const gateway = docs.find((d) => d.kind === 'Gateway')!.spec as {
    servers: { port: { number: number } }[]
  }
  return {
    drainTimeoutMs: Number(/^(\d+)s$/.exec(gc.drainTimeout)![1]) * 1000,
    httpPort: gateway.servers[0]!.port.number,
    readinessPort: gc.readiness.port,
  }
}

async function poll<T>(
  what: string,
  deadlineMs: number,
  fn: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + deadlineMs
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    const v = await fn()
    if (v !== undefined) return v
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('container image (entrypoint in a network namespace)', { skip }, () => {
  const expected = imageConfig()
  let netns: Netns
  let layout: ImageLayout
  let proc: ChildProcess
  let exited: Promise<number | null>
  const output: string[] = []

  before(() => {
    layout = layImage(REPO_ROOT, spec)
    netns = createNetns()
    const argv = withNode([...spec.entrypoint, ...spec.cmd])
    proc = spawn(
      'ip',
      [
        'netns',
        'exec',
        netns.name,
        'unshare',
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        enterImageScript(layout, spec, argv),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    proc.stdout!.on('data', (d: Buffer) => output.push(d.toString()))
    proc.stderr!.on('data', (d: Buffer) => output.push(d.toString()))
    exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)))
  })

  after(() => {
    proc?.kill('SIGKILL')
    netns?.delete()
    if (layout !== undefined) rmSync(layout.root, { recursive: true, force: true })
  })

  test('ready on the readiness port, reached from outside the namespace', async () => {
    const url = `http://${netns.nsIp}:${expected.readinessPort}/healthz/ready`
    let gone = false
    void exited.then(() => (gone = true))
    await poll(`readiness (${output.join('')})`, 90_000, async () => {
      if (gone) throw new Error(`the gateway exited: ${output.join('')}`)
      const res = await fetch(url).catch(() => undefined)
      return res?.status === 200 ? true : undefined
    })
  })

  test('serves traffic on the Gateway port from every address: no routes yet, 404 NR', async () => {
    const res = await fetch(`http://${netns.nsIp}:${expected.httpPort}/anything`)
    assert.equal(res.status, 404)
    assert.equal(res.headers.get('server'), 'istio-envoy')
  })

  test('runs as the image user on a read-only root; admin is loopback only', async () => {
    const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8')
    const uid = /^Uid:\s+(\d+)/m.exec(status)![1]
    assert.equal(Number(uid), spec.user.uid)
    assert.notEqual(spec.user.uid, 0)
    const refused = await new Promise<boolean>((resolve) => {
      const s = connect({ host: netns.nsIp, port: 15000 })
      s.once('connect', () => {
        s.destroy()
        resolve(false)
      })
      s.once('error', () => resolve(true))
    })
    assert.ok(refused, 'the admin API is not reachable from outside')
  })

  test("the image's HEALTHCHECK command succeeds inside the container", () => {
    const check = spawnSync(
      'nsenter',
      [
        '--target',
        String(proc.pid),
        '--mount',
        '--net',
        '--',
        'setpriv',
        `--reuid=${spec.user.uid}`,
        `--regid=${spec.user.gid}`,
        '--clear-groups',
        '--',
        ...withNode(spec.healthcheck),
      ],
      { encoding: 'utf8', timeout: 30_000, cwd: '/' },
    )
    assert.equal(check.status, 0, check.stderr)
  })

  test('SIGTERM: drains and exits 0 within the drain timeout', async () => {
    const started = Date.now()
    proc.kill('SIGTERM')
    const code = await exited
    assert.equal(code, 0, output.join(''))
    assert.ok(Date.now() - started < expected.drainTimeoutMs, 'exited within drainTimeout')
  })
})
