// Every fenced block of README.md, run or loaded exactly as printed. The blocks are listed below
// by section, language and a hash of their text: editing a block without updating (and so
// re-checking) its entry here fails the first test. `bin/portcullis` in a command is a small shell
// script in the test's directory that runs src/main.ts through tsx, since dist/ is a build output
// a test cannot assume; the command lines themselves are passed to `sh -c` unchanged.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { compile } from '../../src/compile/index.js'
import { loadConfigText } from '../../src/config/index.js'
import { docBlocks } from '../deploy/doc-blocks.js'
import { REPO_ROOT } from './harness/index.js'

const README = join(REPO_ROOT, 'README.md')
const blocks = docBlocks(README)
const hash = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 12)

/** Each block in page order: where it is, and how this file checks it. */
const COVERED: readonly (readonly [section: string, lang: string, sha: string, how: string])[] = [
  [
    'Quick start',
    'sh',
    '718821f6a65e',
    'npm scripts exist; `npm start` needs no Redis (gateway.yaml has none)',
  ],
  ['Quick start', 'sh', '10a94ebaf6fc', 'run as printed against gateway.yaml + the demo upstream'],
  [
    'A worked Istio example',
    'yaml',
    '72e4c73bdb24',
    'embedded after bookinfo-gateway.yaml, validated',
  ],
  ['A worked Istio example', 'sh', '1aa9ad2a5aef', 'run as printed on that file'],
  ['A worked Istio example', '', 'bc80602f4ea7', 'validate without the ServiceEntry prints it'],
  ['Commands', '', '4e87b68ca43f', 'validate on the broken example prints it'],
  ['Configuration', 'yaml', '5e14ace908c1', 'loaded and compiled, no diagnostics'],
  ['HTTPS and mTLS', 'sh', 'bea4756b6fe7', 'run as printed (certs)'],
  ['HTTPS and mTLS', 'yaml', '2ab95a6020a2', 'validated with the certs the block above made'],
  ['HTTPS and mTLS', 'sh', '8cfb9e619704', 'flags exist in curl; listener validated above'],
  ['Egress allowlist', 'yaml', '79badb9e42db', 'loaded and compiled; served on 3128'],
  [
    'Egress allowlist',
    'sh',
    '4ee41bb0cf29',
    'the http line run as printed against enforce; the rest checked',
  ],
  ['Shared limits', 'yaml', 'f1f2e39bd941', 'merged into gateway.yaml as the text says, compiled'],
  ['Observability', '', '55768e222563', 'the access-log fields of a request to /api/anything?x=1'],
  ['Benchmark', 'sh', '450d6baaaadf', 'npm scripts exist'],
  ['Development', '', '07b3e7377411', 'every directory named exists'],
]

test('every README block is covered here, unchanged', () => {
  const seen = blocks.map((b) => [b.section, b.lang, hash(b.text)])
  assert.deepEqual(
    seen,
    COVERED.map(([s, l, h]) => [s, l, h]),
    'a README block was added, moved or edited: check it and update COVERED',
  )
})

function block(i: number): string {
  const b = blocks[i]
  assert.ok(b !== undefined, `README block ${i}`)
  return b.text
}

/** A directory with `bin/portcullis` that runs this checkout's CLI, for commands as printed. */
function workdir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-readme-'))
  mkdirSync(join(dir, 'bin'))
  const tsx = import.meta.resolve('tsx')
  const main = join(REPO_ROOT, 'src', 'main.ts')
  const shim = `#!/bin/sh\nexec "${process.execPath}" --import "${tsx}" "${main}" "$@"\n`
  writeFileSync(join(dir, 'bin', 'portcullis'), shim)
  chmodSync(join(dir, 'bin', 'portcullis'), 0o755)
  return dir
}

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // The test runner's context and any proxy of this machine would change what a command does.
  const drop = new Set([
    'NODE_TEST_CONTEXT',
    'http_proxy',
    'https_proxy',
    'HTTP_PROXY',
    'HTTPS_PROXY',
  ])
  const kept = Object.entries(process.env).filter(([k]) => !drop.has(k))
  return { ...Object.fromEntries(kept), ...extra }
}

function sh(line: string, cwd: string, extra: Record<string, string> = {}) {
  return spawnSync('sh', ['-c', line], { cwd, env: env(extra), encoding: 'utf8', timeout: 60_000 })
}

/** The `$ command` / output pairs of a console-style block. */
function transcript(text: string): { command: string; output: string }[] {
  const out: { command: string; output: string }[] = []
  for (const line of text.split('\n')) {
    if (line.startsWith('$ ')) out.push({ command: line.slice(2), output: '' })
    else if (line !== '' && out.length > 0) out[out.length - 1]!.output += line + '\n'
  }
  return out
}

function portTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(true))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)))
  })
}

async function takenOf(ports: readonly number[]): Promise<number[]> {
  const taken: number[] = []
  for (const p of ports) if (await portTaken(p)) taken.push(p)
  return taken
}

async function until(what: string, ok: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    if (await ok().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

const ready = (port: number) => async () =>
  (await fetch(`http://127.0.0.1:${port}/healthz/ready`)).status === 200

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  const gone = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  const t = setTimeout(() => child.kill('SIGKILL'), 30_000)
  await gone
  clearTimeout(t)
}

function gateway(cwd: string, file: string): ChildProcess {
  const args = [
    '--import',
    import.meta.resolve('tsx'),
    join(REPO_ROOT, 'src', 'main.ts'),
    'run',
    '-c',
    file,
  ]
  return spawn(process.execPath, args, { cwd, env: env(), stdio: ['ignore', 'pipe', 'pipe'] })
}

function demoUpstream(): ChildProcess {
  const script = join(REPO_ROOT, 'scripts', 'demo-upstream.mjs')
  return spawn(process.execPath, [script], { env: env(), stdio: ['ignore', 'pipe', 'inherit'] })
}

const scripts = (
  JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>
  }
).scripts

// npm ci and the full suite cannot run from a test; the scripts they name must exist, and the
// demo config must work offline: no redis in gateway.yaml.
test('Quick start: the npm scripts exist and gateway.yaml needs no Redis', () => {
  const text = block(0)
  for (const [, name] of text.matchAll(/npm (?:run )?(\w+)/g)) {
    if (name === 'ci') continue
    assert.ok(scripts[name!] !== undefined, `package.json has script ${name}`)
  }
  assert.equal(scripts['start'], 'node scripts/start-demo.mjs')
  const loaded = loadConfigText({
    'gateway.yaml': readFileSync(join(REPO_ROOT, 'gateway.yaml'), 'utf8'),
  })
  const compiled = compile(loaded.resources)
  assert.equal(compiled.snapshot.settings.redis, undefined)
})

test('Quick start and Observability: the curls as printed, on gateway.yaml and the demo', async (t) => {
  const text = block(1)
  const yaml = readFileSync(join(REPO_ROOT, 'gateway.yaml'), 'utf8')
  // The ports README prints are the ones gateway.yaml and the demo upstream use.
  assert.match(yaml, /number: 8080, name: http/)
  assert.match(yaml, /targetPort: 9080/)
  assert.match(yaml, /admin: \{ address: 127\.0\.0\.1, port: 15000 \}/)
  assert.match(yaml, /metrics: \{ port: 15090 \}/)
  assert.match(readFileSync(join(REPO_ROOT, 'scripts', 'start-demo.mjs'), 'utf8'), /'9080'/)
  const taken = await takenOf([8080, 9080, 15000, 15021, 15090])
  if (taken.length > 0) return t.skip(`README's fixed ports are in use here: ${taken.join(', ')}`)
  const upstream = demoUpstream()
  const gw = gateway(REPO_ROOT, 'gateway.yaml')
  let log = ''
  gw.stdout?.on('data', (d: Buffer) => (log += d.toString()))
  gw.stderr?.resume()
  try {
    await until('the demo gateway', ready(15021))
    await until('the demo upstream', async () => (await fetch('http://127.0.0.1:9080/')).ok)
    const lines = text
      .trim()
      .split('\n')
      .map((l) => l.replace(/\s+#.*$/, ''))
    assert.equal(lines.length, 6)
    const run = (i: number) => {
      const res = sh(lines[i]!, REPO_ROOT)
      assert.equal(res.status, 0, `${lines[i]}: ${res.stderr}`)
      return res.stdout
    }
    const hello = run(0)
    assert.match(hello, /^HTTP\/1\.1 200 /)
    assert.match(hello, /hello from portcullis\n$/)
    const api = run(1)
    assert.match(api, /^HTTP\/1\.1 200 /)
    assert.match(api, /"path": "\/anything\?x=1"/)
    assert.match(run(2), /^HTTP\/1\.1 302 [\s\S]*\r\nlocation: [^\r]*\/api\/docs\r\n/i)
    assert.match(run(3), /^HTTP\/1\.1 404 /)
    assert.ok(JSON.parse(run(4)), 'config_dump is JSON')
    assert.match(run(5), /^istio_requests_total\{/m)
    await until('the access log lines', () =>
      Promise.resolve(/\/nope HTTP\/1\.1" 404 NR /.test(log)),
    )
    // The Observability block's line, field by field up to what varies per request.
    const printed = block(13).trim()
    const served = log.split('\n').find((l) => l.includes('"GET /api/anything?x=1 HTTP/1.1"'))
    assert.ok(served !== undefined, log)
    const stable = (l: string) =>
      l
        .replace(/^\[[^\]]+\]/, '[T]')
        .replace(/" \d+ \d+ \d+ \d+ "/, '" N N N N "')
        .replace(/"curl\/[^"]+"/, '"curl"')
        .replace(/"[0-9a-f]{8}-[^"]*"/, '"ID"')
        .replace(/127\.0\.0\.1:\d+ - api$/, '127.0.0.1:P - api')
    assert.equal(stable(served), stable(printed))
  } finally {
    await stop(gw)
    await stop(upstream)
  }
})

// Istio's samples/bookinfo/networking/bookinfo-gateway.yaml, unmodified (release-1.24), which the
// README's block is appended to. The printed PC2002 line (41:15) pins it to this text.
const BOOKINFO = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: bookinfo-gateway
spec:
  # The selector matches the ingress gateway pod labels.
  # If you installed Istio using Helm following the standard documentation, this would be "istio=ingress"
  selector:
    istio: ingressgateway # use istio default controller
  servers:
  - port:
      number: 8080
      name: http
      protocol: HTTP
    hosts:
    - "*"
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: bookinfo
spec:
  hosts:
  - "*"
  gateways:
  - bookinfo-gateway
  http:
  - match:
    - uri:
        exact: /productpage
    - uri:
        prefix: /static
    - uri:
        exact: /login
    - uri:
        exact: /logout
    - uri:
        prefix: /api/v1/products
    route:
    - destination:
        host: productpage
        port:
          number: 9080
`

test('A worked Istio example: validate without the ServiceEntry prints the printed warning', () => {
  const dir = workdir()
  try {
    writeFileSync(join(dir, 'bookinfo-gateway.yaml'), BOOKINFO)
    const res = sh('bin/portcullis validate bookinfo-gateway.yaml', dir)
    assert.equal(res.status, 0, res.stderr)
    assert.equal(res.stdout, block(4) + '0 errors, 1 warning\n')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('A worked Istio example: the bookinfo commands as printed', async (t) => {
  const extra = block(2)
  assert.match(extra, /^# \.\.\. the unmodified bookinfo-gateway\.yaml/)
  const dir = workdir()
  let gw: ChildProcess | undefined
  let upstream: ChildProcess | undefined
  try {
    writeFileSync(join(dir, 'gateway.yaml'), BOOKINFO + extra)
    const steps = transcript(block(3))
    assert.deepEqual(
      steps.map((s) => s.command),
      [
        'bin/portcullis validate gateway.yaml',
        'bin/portcullis run -c gateway.yaml &',
        "curl -s -o /dev/null -w '%{http_code}\\n' http://127.0.0.1:8080/productpage",
        "curl -s -o /dev/null -w '%{http_code}\\n' http://127.0.0.1:8080/nothing",
      ],
    )
    const validate = sh(steps[0]!.command, dir)
    assert.equal(validate.status, 0, validate.stderr)
    assert.equal(validate.stdout, steps[0]!.output)
    const taken = await takenOf([8080, 9080, 15000, 15021, 15090])
    if (taken.length > 0) return t.skip(`the example's fixed ports are in use: ${taken.join(', ')}`)
    // productpage at 127.0.0.1:9080: any HTTP server answering 200 stands in for it.
    upstream = demoUpstream()
    // `&` in a test: the same command, started as a child the test can stop.
    gw = spawn('sh', ['-c', `exec ${steps[1]!.command.replace(/ &$/, '')}`], {
      cwd: dir,
      env: env(),
      stdio: ['ignore', 'ignore', 'ignore'],
    })
    await until('the bookinfo gateway', ready(15021))
    await until('productpage', async () => (await fetch('http://127.0.0.1:9080/')).ok)
    for (const step of steps.slice(2)) {
      const res = sh(step.command, dir)
      assert.equal(res.stdout, step.output, step.command)
    }
  } finally {
    await stop(gw)
    await stop(upstream)
    rmSync(dir, { recursive: true, force: true })
  }
})

// The README does not print the config behind this diagnostic; this is the smallest one whose
// line 14, column 15 is the second route's weight, so the printed line is checked in full.
const NEG = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: neg
spec:
  hosts: [neg.example.com]
  gateways: [edge]
  http:
  - route:
    - destination: { host: a.internal }
      weight: 100
    - destination:
        host: b.internal
      weight: -1
`

test('Commands: the printed diagnostic line is what validate prints', () => {
  const dir = workdir()
  try {
    writeFileSync(join(dir, 'gateway.yaml'), NEG)
    const res = sh('bin/portcullis validate gateway.yaml', dir)
    assert.equal(res.status, 1)
    assert.ok(res.stdout.split('\n').includes(block(5).trim()), res.stdout)
    const readme = readFileSync(README, 'utf8')
    assert.ok(readme.includes('error PC1203 … weight must be >= 0'), 'the Quick start text')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

function assertNoErrors(files: Record<string, string>) {
  const loaded = loadConfigText(files)
  const errors = [...loaded.diagnostics, ...compile(loaded.resources).diagnostics].filter(
    (d) => d.severity === 'error',
  )
  assert.deepEqual(errors, [])
  return loaded
}

test('Configuration: the GatewayConfig, as the one of gateway.yaml, loads and compiles', () => {
  // Alone it serves nothing (PC1009); the text says it is the config's one GatewayConfig, so it
  // replaces the repository gateway.yaml's.
  const base = readFileSync(join(REPO_ROOT, 'gateway.yaml'), 'utf8')
  const rest = base.slice(base.indexOf('---\n'))
  const loaded = assertNoErrors({ 'gateway.yaml': block(6) + rest })
  assert.deepEqual(loaded.diagnostics, [])
  assert.equal(loaded.resources.gatewayConfig?.metadata.name, 'portcullis')
})

test('HTTPS and mTLS: certs as printed, the Gateway validated with them, the curls as printed', async (t) => {
  const dir = workdir()
  let gw: ChildProcess | undefined
  try {
    for (const line of block(7).trim().split('\n')) {
      const res = sh(line, dir)
      assert.equal(res.status, 0, `${line}: ${res.stderr}`)
    }
    for (const f of ['ca/ca.crt', 'ca/ca.key', 'certs/web/tls.key', 'certs/admin/ca.crt'])
      assert.ok(existsSync(join(dir, f)), f)
    writeFileSync(join(dir, 'gateway.yaml'), block(8))
    const res = sh('bin/portcullis validate gateway.yaml', dir)
    assert.equal(res.status, 0, res.stdout + res.stderr)
    assert.match(res.stdout, /^0 errors, /m)
    const taken = await takenOf([8443, 15000, 15021, 15090])
    if (taken.length > 0) return t.skip(`the example's fixed ports are in use: ${taken.join(', ')}`)
    gw = gateway(dir, 'gateway.yaml')
    gw.stdout?.resume()
    gw.stderr?.resume()
    await until('the TLS gateway', ready(15021))
    // Both handshakes succeed (curl exits 0 on any HTTP status; no route answers 404).
    const curls = sh(`set -e\n${block(9)}`, dir)
    assert.equal(curls.status, 0, curls.stderr)
  } finally {
    await stop(gw)
    rmSync(dir, { recursive: true, force: true })
  }
})

test('Egress allowlist: the config compiles; plain HTTP through the proxy is denied as printed', async (t) => {
  const yaml = block(10)
  assertNoErrors({ 'gateway.yaml': yaml })
  const lines = block(11).trim().split('\n')
  const [exportLine, https, http, suggest] = lines
  assert.equal(lines.length, 4)
  // curl reads only the lowercase http_proxy for http:// URLs (HTTP_PROXY is ignored on purpose),
  // so the printed export must set it, or the "denied" line would go straight out.
  assert.match(exportLine!, /\bhttp_proxy=http:\/\/127\.0\.0\.1:3128\b/)
  assert.match(exportLine!, /\bHTTPS_PROXY=http:\/\/127\.0\.0\.1:3128\b/)
  // The https line needs api.github.com, which a test cannot reach: its host is the ServiceEntry's.
  assert.match(https!, /^curl https:\/\/api\.github\.com\/zen /)
  assert.match(yaml, /hosts: \[api\.github\.com\]/)
  const taken = await takenOf([3128, 15000, 15021, 15090])
  if (taken.length > 0) return t.skip(`the example's fixed ports are in use: ${taken.join(', ')}`)
  const dir = workdir()
  let gw: ChildProcess | undefined
  try {
    // "then: enforce": the http line's comment is about enforce mode.
    assert.match(yaml, /enforcement: audit \}/)
    writeFileSync(
      join(dir, 'gateway.yaml'),
      yaml.replace('enforcement: audit }', 'enforcement: enforce }'),
    )
    gw = gateway(dir, 'gateway.yaml')
    gw.stdout?.resume()
    gw.stderr?.resume()
    await until('the egress gateway', ready(15021))
    const denied = sh(`${exportLine}\n${http!.replace(/\s+#.*$/, '')} -i`, dir)
    assert.equal(denied.status, 0, denied.stderr)
    assert.match(denied.stdout, /^HTTP\/1\.1 502 /)
    assert.match(denied.stdout, /\r\nx-portcullis-egress-reason: host_not_registered\r\n/i)
    const suggested = sh(`${exportLine}\n${suggest}`, dir)
    assert.equal(suggested.status, 0, suggested.stderr)
    // "apply it": next to the running config, the suggested entries load with no errors.
    const observed = readFileSync(join(dir, 'observed.yaml'), 'utf8')
    assert.match(observed, /hosts:[\s\S]*example\.org/)
    assertNoErrors({ 'gateway.yaml': yaml, 'observed.yaml': observed })
  } finally {
    await stop(gw)
    rmSync(dir, { recursive: true, force: true })
  }
})

test('Shared limits: merged into gateway.yaml as the text says, it compiles', () => {
  const [policy, config] = block(12).split('---\n')
  assert.ok(policy !== undefined && config !== undefined)
  const specLines = config.slice(config.indexOf('spec:\n') + 'spec:\n'.length)
  const base = readFileSync(join(REPO_ROOT, 'gateway.yaml'), 'utf8')
  const at = base.indexOf('spec:\n') + 'spec:\n'.length
  const merged = base.slice(0, at) + specLines + base.slice(at) + '---\n' + policy
  const loaded = assertNoErrors({ 'gateway.yaml': merged })
  assert.ok(compile(loaded.resources).snapshot.settings.redis !== undefined, 'redis from the merge')
  assert.equal(loaded.resources.rateLimitPolicies.length, 1)
})

// The benchmark and full suite are not run here (minutes of CPU on a shared machine); the
// scripts they name exist.
test('Benchmark: the npm scripts exist', () => {
  for (const [, name] of block(14).matchAll(/npm run (\w+)/g))
    assert.ok(scripts[name!] !== undefined, `package.json has script ${name}`)
})

test('Development: every directory the layout names exists', () => {
  const dirs = [...block(15).matchAll(/(src\/\w+)\//g)].map((m) => m[1]!)
  assert.equal(dirs.length, 9)
  for (const d of dirs) assert.ok(existsSync(join(REPO_ROOT, d)), d)
})

// Referenced files the prose points at (systemd unit, Dockerfile, deploy layouts, docs).
test('files and CLI options the README names exist', () => {
  const readme = readFileSync(README, 'utf8')
  for (const [, path] of readme.matchAll(/\]\(((?:docs|bench)\/[^)]+)\)/g))
    assert.ok(existsSync(join(REPO_ROOT, path!)), path)
  for (const f of ['systemd/portcullis.service', 'Dockerfile', 'deploy/kubernetes', 'gateway.yaml'])
    assert.ok(existsSync(join(REPO_ROOT, f)), f)
  const dir = workdir()
  try {
    const run = sh('bin/portcullis run --help', dir).stdout
    const validate = sh('bin/portcullis validate --help', dir).stdout
    for (const flag of ['--no-watch', '--log-level', '--log-format', '-c'])
      assert.ok(run.includes(flag), `run --help lists ${flag}`)
    assert.ok(validate.includes('--format'), 'validate --help lists --format')
    assert.equal(sh('bin/portcullis version', dir).status, 0)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
