// docs/deploy.md, Container and Kubernetes: every command the page prints, run as printed or,
// where this machine lacks what it needs (a container engine that can pull base images, a
// cluster), as the closest real equivalent the page names. The VM section has its own test
// (vm-install.test.ts). A code block added to the page without a test here fails the first test.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as core from 'kubernetes-models/v1'
import { parse, parseAllDocuments, stringify } from 'yaml'
import { REPO_ROOT } from '../e2e/harness/index.js'
import { docBlocks, blocksOf } from './doc-blocks.js'
import { readImageSpec } from './dockerfile.js'
import { enterImageScript, layImage, type Volume } from './image-layout.js'
import { createNetns, netnsUnavailable } from './netns.js'

const DOC = join(REPO_ROOT, 'docs/deploy.md')
const INGRESS = join(REPO_ROOT, 'deploy/kubernetes/overlays/ingress')
const CLI = [process.execPath, '--import', 'tsx', join(REPO_ROOT, 'src/main.ts')]
const hasKubectl = spawnSync('kubectl', ['version', '--client']).status === 0

/** Command lines of a shell block: continuations joined, words split as sh would (no globs). */
function commands(block: string): string[][] {
  return block
    .replaceAll('\\\n', ' ')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) =>
      [...line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!),
    )
}

/** The CLI from src/ (tsx resolves from the repository); every path it is given is absolute. */
function cli(args: string[]): { status: number | null; out: string } {
  const [node, ...rest] = CLI
  const r = spawnSync(node!, [...rest, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  })
  return { status: r.status, out: r.stdout + r.stderr }
}

/** A development CA in `dir`/ca and a certificate for edge.example.com in `out`. */
function issue(dir: string, out: string, extra: string[] = []): void {
  if (!existsSync(join(dir, 'ca', 'ca.crt'))) {
    const ca = cli(['certs', 'ca', '--out', join(dir, 'ca')])
    assert.equal(ca.status, 0, ca.out)
  }
  const leaf = cli([
    'certs',
    'issue',
    '--ca',
    join(dir, 'ca'),
    '--host',
    'edge.example.com',
    ...extra,
    '--out',
    out,
  ])
  assert.equal(leaf.status, 0, leaf.out)
}

async function poll<T>(what: string, ms: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    const v = await fn()
    if (v !== undefined) return v
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error(`timed out waiting for ${what}`)
}

function httpsStatus(host: string, port: number, ca: string, path = '/x'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host, port, path, servername: 'edge.example.com', ca, timeout: 10_000 },
      (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      },
    )
    req.once('error', reject)
    req.once('timeout', () => req.destroy(new Error('timeout')))
    req.end()
  })
}

test('every code block of docs/deploy.md is one the deploy tests run', () => {
  const shape = docBlocks(DOC).map((b) => `${b.section}/${b.lang}`)
  assert.deepEqual(shape, [
    'Container/sh', // here: docker build, docker run
    'Kubernetes/sh', // here: kubectl create secret, kustomize, apply -k
    'Kubernetes/yaml', // here: the proxyProtocol snippet
    'VM (systemd)/sh', // vm-install.test.ts: the install
    'VM (systemd)/sh', // vm-install.test.ts: LoadCredential=
    'VM (systemd)/yaml', // vm-install.test.ts: the tls edit
  ])
})

describe('docs/deploy.md Container', () => {
  const [block] = blocksOf(DOC, 'Container', 'sh')
  const [build, run] = commands(block!)
  const spec = readImageSpec(REPO_ROOT)

  test('docker build: the tag the manifests use, from the repository, every COPY source present', () => {
    assert.deepEqual(build!.slice(0, 3), ['docker', 'build', '-t'])
    const tag = build![3]!
    assert.equal(build![4], '.', 'the repository is the build context')
    const deployment = readFileSync(
      join(REPO_ROOT, 'deploy/kubernetes/base/deployment.yaml'),
      'utf8',
    )
    assert.match(deployment, new RegExp(`image: ${tag.replace('.', '\\.')}\\n`))
    const version = (
      JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }
    ).version
    assert.equal(tag, `portcullis:${version}`)
    for (const line of readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8').split('\n')) {
      const m = /^COPY\s+(?!--from)(.+)\s+\S+$/.exec(line.trim())
      for (const from of m?.[1]!.split(/\s+/) ?? []) {
        assert.ok(existsSync(join(REPO_ROOT, from)), `COPY ${from} exists`)
      }
    }
  })

  const unavailable = netnsUnavailable()
  test(
    'docker run: the image with the -v directories, read-only, probed on its -p container ports, drained by SIGTERM',
    { skip: unavailable ?? false },
    async (t) => {
      assert.deepEqual(run!.slice(0, 2), ['docker', 'run'])
      assert.equal(run!.at(-1), build![3], 'runs the image just built')
      const flags = run!.slice(2, -1)
      assert.ok(flags.includes('--read-only'))
      const work = mkdtempSync(join(tmpdir(), 'portcullis-docker-run-'))
      t.after(() => rmSync(work, { recursive: true, force: true }))
      const netns = createNetns()
      t.after(() => netns.delete())
      // An upstream on the node's side of the veth pair that answers /slow only when told: a
      // request in flight when SIGTERM arrives.
      let release: (() => void) | undefined
      let received: (() => void) | undefined
      const inFlight = new Promise<void>((r) => (received = r))
      const upstream = createServer((req, res) => {
        if (req.url !== '/slow') return void res.end('fast')
        received?.()
        release = () => res.end('slow done')
      })
      await new Promise<void>((r) => upstream.listen(0, netns.hostIp, r))
      t.after(() => upstream.close())
      const upstreamPort = (upstream.address() as AddressInfo).port
      // What the page asks the user to have in $PWD: the ingress config with a route of theirs
      // appended after the Gateway, as that file's comment says to.
      mkdirSync(join(work, 'config'))
      writeFileSync(
        join(work, 'config', 'gateway.yaml'),
        readFileSync(join(INGRESS, 'gateway.yaml'), 'utf8') +
          `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: app }
spec:
  hosts: ['*']
  gateways: [edge]
  http: [{ route: [{ destination: { host: app.internal } }] }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: app }
spec:
  hosts: [app.internal]
  ports: [{ number: ${upstreamPort}, name: http, protocol: HTTP }]
  resolution: STATIC
  endpoints: [{ address: ${netns.hostIp} }]
`,
      )
      issue(work, join(work, 'certs', 'edge-tls'), ['--group', String(spec.user.gid)])

      const volumes: Volume[] = []
      const ports: number[] = []
      for (let i = 0; i < flags.length; i++) {
        if (flags[i] === '-v') {
          const [host, image, mode] = flags[++i]!.replaceAll('$PWD', work).split(':')
          assert.equal(mode, 'ro')
          volumes.push({ host: host!, image: image! })
        } else if (flags[i] === '-p') ports.push(Number(flags[++i]!.split(':')[1]))
        else assert.equal(flags[i], '--read-only', `a flag the test knows: ${flags[i]}`)
      }
      for (const p of ports) assert.ok(spec.exposed.includes(p), `EXPOSE ${p}`)
      const config = spec.cmd[spec.cmd.indexOf('-c') + 1]!
      assert.ok(
        volumes.some((v) => config.startsWith(`${v.image}/`)),
        'config from the volume',
      )

      const layout = layImage(REPO_ROOT, spec, volumes)
      t.after(() => rmSync(layout.root, { recursive: true, force: true }))
      const argv = [process.execPath, ...[...spec.entrypoint, ...spec.cmd].slice(1)]
      const proc: ChildProcess = spawn(
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
          enterImageScript(layout, spec, argv, volumes),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      )
      const output: string[] = []
      proc.stdout!.on('data', (d: Buffer) => output.push(d.toString()))
      proc.stderr!.on('data', (d: Buffer) => output.push(d.toString()))
      const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
      t.after(() => proc.kill('SIGKILL'))
      let gone = false
      void exited.then(() => (gone = true))
      await poll(`readiness (${output.join('')})`, 90_000, async () => {
        if (gone) throw new Error(`the gateway exited: ${output.join('')}`)
        const res = await fetch(`http://${netns.nsIp}:15021/healthz/ready`).catch(() => undefined)
        return res?.status === 200 ? true : undefined
      })
      const [httpPort, httpsPort] = ports
      const redirect = await fetch(`http://${netns.nsIp}:${httpPort}/x`, { redirect: 'manual' })
      assert.equal(redirect.status, 301)
      const ca = readFileSync(join(work, 'ca', 'ca.crt'), 'utf8')
      // Verified against the CA for edge.example.com: the certificate is the mounted Secret's.
      assert.equal(await httpsStatus(netns.nsIp, httpsPort!, ca), 200, 'routed upstream')

      // SIGTERM with a request in flight: readiness fails, the request finishes, exit 0 within
      // drainTimeout (which the pod's grace period covers: kubernetes.test.ts).
      const slow = httpsStatus(netns.nsIp, httpsPort!, ca, '/slow')
      await inFlight
      const stopping = Date.now()
      proc.kill('SIGTERM')
      await poll('readiness 503 while draining', 30_000, async () => {
        const res = await fetch(`http://${netns.nsIp}:15021/healthz/ready`).catch(() => undefined)
        return res === undefined || res.status === 503 ? true : undefined
      })
      release!()
      assert.equal(await slow, 200, 'the in-flight request finished')
      assert.equal(await exited, 0, output.join(''))
      const drain = /drainTimeout: (\d+)s/.exec(readFileSync(join(INGRESS, 'gateway.yaml'), 'utf8'))
      assert.ok(Date.now() - stopping < Number(drain![1]) * 1000, 'exited within drainTimeout')
    },
  )
})

describe(
  'docs/deploy.md Kubernetes',
  { skip: hasKubectl ? false : 'kubectl is not installed' },
  () => {
    const [block] = blocksOf(DOC, 'Kubernetes', 'sh')
    const [secret, kustomize, apply] = commands(block!)

    test('kubectl create secret tls: (no cluster: --dry-run=client) the Secret the overlay mounts', (t) => {
      const work = mkdtempSync(join(tmpdir(), 'portcullis-k8s-secret-'))
      t.after(() => rmSync(work, { recursive: true, force: true }))
      issue(work, work)
      const [kubectl, ...args] = secret!
      const r = spawnSync(kubectl!, [...args, '--dry-run=client', '-o', 'yaml'], {
        cwd: work,
        encoding: 'utf8',
        timeout: 60_000,
      })
      assert.equal(r.status, 0, r.stderr)
      const obj = parse(r.stdout) as {
        metadata: { name: string }
        type: string
        data: Record<string, string>
      }
      new core.Secret(obj).validate()
      assert.equal(obj.type, 'kubernetes.io/tls')
      assert.deepEqual(Object.keys(obj.data).sort(), ['tls.crt', 'tls.key'])
      const patch = readFileSync(join(INGRESS, 'tls-secret.yaml'), 'utf8')
      assert.match(patch, new RegExp(`secretName: ${obj.metadata.name} `), 'the overlay mounts it')
    })

    test('kubectl kustomize renders the overlay; apply -k (no cluster) applies that same render', () => {
      const [kubectl, ...args] = kustomize!
      const r = spawnSync(kubectl!, args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 })
      assert.equal(r.status, 0, r.stderr)
      const kinds = parseAllDocuments(r.stdout).map((d) => (d.toJS() as { kind: string }).kind)
      assert.ok(kinds.includes('Deployment') && kinds.includes('Service'), kinds.join(', '))
      assert.deepEqual(apply!.slice(0, 3), ['kubectl', 'apply', '-k'])
      assert.equal(apply![3], args[1], 'apply -k takes the directory kustomize rendered')
    })

    test('the proxyProtocol snippet, put in the ingress config, passes portcullis validate', (t) => {
      const [snippet] = blocksOf(DOC, 'Kubernetes', 'yaml')
      const pp = (parse(snippet!) as { spec: { gatewayTopology: unknown } }).spec.gatewayTopology
      const docs = parseAllDocuments(readFileSync(join(INGRESS, 'gateway.yaml'), 'utf8')).map(
        (d) => d.toJS() as { kind: string; spec: Record<string, unknown> },
      )
      const work = mkdtempSync(join(tmpdir(), 'portcullis-k8s-pp-'))
      t.after(() => rmSync(work, { recursive: true, force: true }))
      issue(work, join(work, 'certs', 'edge-tls'))
      for (const d of docs) {
        if (d.kind !== 'GatewayConfig') continue
        d.spec['gatewayTopology'] = pp
        d.spec['certsDir'] = join(work, 'certs')
      }
      writeFileSync(join(work, 'gateway.yaml'), docs.map((d) => stringify(d)).join('---\n'))
      const r = cli(['validate', join(work, 'gateway.yaml')])
      assert.equal(r.status, 0, r.out)
      const ports = (pp as { proxyProtocol: { ports: number[] } }).proxyProtocol.ports
      const gateway = docs.find((d) => d.kind === 'Gateway')!.spec as {
        servers: { port: { number: number } }[]
      }
      assert.deepEqual(
        ports,
        gateway.servers.map((s) => s.port.number),
        'the ingress listeners',
      )
    })
  },
)
