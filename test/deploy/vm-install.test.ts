// docs/deploy.md, VM (systemd): its commands run exactly as printed, as root, in a private mount
// namespace (/opt a tmpfs, /etc a writable layer over the host's, both gone with the namespace)
// inside a network namespace of their own. What this machine lacks is stood in for as the page
// says: `sudo` is the root shell itself; `npm ci` / `npm install` link the repository's
// node_modules; with no systemd as PID 1, `systemctl daemon-reload` is `systemd-analyze verify`
// of the installed unit and drop-ins (no output allowed), and `enable --now` / `restart` start
// the unit's ExecStart as systemd would (test/deploy/unit-start.ts). Probed from outside the
// namespace: HTTP 80 redirects, HTTPS 443 answers with the issued certificate, readiness is 200,
// the process is the dynamic user with the unit's groups, and SIGTERM drains and exits 0.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseAllDocuments, parse, stringify } from 'yaml'
import { REPO_ROOT } from '../e2e/harness/index.js'
import { blocksOf } from './doc-blocks.js'
import { createNetns, netnsUnavailable, type Netns } from './netns.js'
import { DYNAMIC_UID } from './unit-start.js'

const DOC = join(REPO_ROOT, 'docs/deploy.md')
const SECTION = 'VM (systemd)'
const unavailable = netnsUnavailable()
const skip = unavailable ?? false

/** What the page's commands need besides the repository: sh, the stand-ins, the namespace. */
function preamble(work: string): string {
  const unitStart = join(REPO_ROOT, 'test/deploy/unit-start.ts')
  return `set -euo pipefail
mount -t tmpfs -o mode=0755 tmpfs /opt
mkdir -p ${work}/etc-rw && mount -t tmpfs tmpfs ${work}/etc-rw && mkdir ${work}/etc-rw/upper ${work}/etc-rw/work
mount -t overlay overlay -o lowerdir=/etc,upperdir=${work}/etc-rw/upper,workdir=${work}/etc-rw/work /etc
export PATH=${dirname(process.execPath)}:$PATH
sudo() { "$@"; }
npm() {
  case "$1" in
    ci|install) ln -sfn ${REPO_ROOT}/node_modules node_modules ;;
    *) command npm "$@" ;;
  esac
}
START=
systemctl() {
  case "$*" in
    daemon-reload)
      out=$(systemd-analyze verify /etc/systemd/system/portcullis.service 2>&1) || { echo "$out" >&2; return 1; }
      if [ -n "$out" ]; then echo "systemd-analyze verify: $out" >&2; return 1; fi ;;
    "enable --now portcullis"|"restart portcullis") START=1 ;;
    *) echo "systemctl $*: not part of the install" >&2; return 1 ;;
  esac
}
start_unit() {
  [ -n "$START" ] || { echo "the page never starts the service" >&2; exit 1; }
  eval "$(node --import tsx ${unitStart} /etc/systemd/system/portcullis.service)"
}
cd ${work}/checkout
`
}

/** A copy of the repository (what a user clones), without what a build makes. */
function checkout(work: string): void {
  cpSync(REPO_ROOT, join(work, 'checkout'), {
    recursive: true,
    filter: (src) => {
      const rel = src.slice(REPO_ROOT.length + 1).split('/')[0]
      return !['node_modules', 'dist', '.git', 'bench', 'coverage'].includes(rel ?? '')
    },
  })
}

async function poll<T>(what: string, ms: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms
  for (let i = 0; i < 2000 && Date.now() < deadline; i++) {
    const v = await fn()
    if (v !== undefined) return v
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error(`timed out waiting for ${what}`)
}

function httpsGet(host: string, servername: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host, port: 443, path: '/', servername, ca, timeout: 10_000 },
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

interface Install {
  proc: ChildProcess
  exited: Promise<number | null>
  output: string[]
  netns: Netns
}

function install(work: string, script: string): Install {
  const netns = createNetns()
  const proc = spawn(
    'ip',
    [
      'netns',
      'exec',
      netns.name,
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'bash',
      '-c',
      script,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const output: string[] = []
  proc.stdout.on('data', (d: Buffer) => output.push(d.toString()))
  proc.stderr.on('data', (d: Buffer) => output.push(d.toString()))
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  return { proc, exited, output, netns }
}

/** Runs the install, probes it, stops it; `expectGroup`: whether the unit keeps its group. */
async function installAndProbe(extraBlocks: string[], expectGroup: boolean): Promise<void> {
  const [main] = blocksOf(DOC, SECTION, 'sh')
  assert.ok(main, 'the VM section has its install commands')
  const work = mkdtempSync(join(tmpdir(), 'portcullis-vm-'))
  let run: Install | undefined
  try {
    checkout(work)
    const script = [preamble(work), main, ...extraBlocks, 'start_unit', ''].join('\n')
    run = install(work, script)
    const { netns, proc, exited, output } = run
    let code: number | null | undefined
    void exited.then((c) => (code = c))
    const log = (): string => output.join('')
    // npm run build (tsc) in the checkout comes first: minutes on a loaded machine.
    await poll(`readiness (${log()})`, 600_000, async () => {
      if (code !== undefined) throw new Error(`the install ended (code ${code}):\n${log()}`)
      const res = await fetch(`http://${netns.nsIp}:15021/healthz/ready`).catch(() => undefined)
      return res?.status === 200 ? true : undefined
    })
    const redirect = await fetch(`http://${netns.nsIp}/x`, { redirect: 'manual' })
    assert.equal(redirect.status, 301)
    assert.match(redirect.headers.get('location') ?? '', /^https:\/\//)
    const root = `/proc/${proc.pid}/root`
    const ca = readFileSync(`${root}/etc/portcullis/ca/ca.crt`, 'utf8')
    assert.equal(await httpsGet(netns.nsIp, 'edge.example.com', ca), 404, 'HTTPS, nothing routed')

    const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8')
    assert.equal(Number(/^Uid:\s+(\d+)/m.exec(status)![1]), DYNAMIC_UID)
    const groups = /^Groups:\s*(.*)$/m.exec(status)![1]!.trim()
    const group = /^portcullis:x:(\d+):/m.exec(readFileSync(`${root}/etc/group`, 'utf8'))![1]!
    assert.equal(groups.split(/\s+/).includes(group), expectGroup, `groups: ${groups}`)
    const key = statSync(`${root}/etc/portcullis/certs/edge-tls/tls.key`)
    assert.equal(key.uid, 0)
    assert.equal(key.mode & 0o777, expectGroup ? 0o640 : 0o600)

    const stopping = Date.now()
    proc.kill('SIGTERM')
    assert.equal(await exited, 0, log())
    const unit = readFileSync(join(REPO_ROOT, 'systemd/portcullis.service'), 'utf8')
    const stopSec = Number(/^TimeoutStopSec=(\d+)/m.exec(unit)![1])
    assert.ok(Date.now() - stopping < stopSec * 1000, 'stopped within TimeoutStopSec')
  } finally {
    run?.proc.kill('SIGKILL')
    await run?.exited
    run?.netns.delete()
    rmSync(work, { recursive: true, force: true })
  }
}

describe('docs/deploy.md VM install, run as printed', { skip }, () => {
  test('group: keys issued for the group portcullis, the unit as shipped', async () => {
    await installAndProbe([], true)
  })

  test('LoadCredential=: the drop-in, a root-only key, the config edited as the page shows', async () => {
    const [, credentials] = blocksOf(DOC, SECTION, 'sh')
    const [tlsSnippet] = blocksOf(DOC, SECTION, 'yaml')
    assert.ok(credentials && tlsSnippet, 'the VM section shows the LoadCredential= way')
    // The edit the page asks for: the HTTPS server's tls becomes the snippet.
    const docs = parseAllDocuments(readFileSync(join(REPO_ROOT, 'systemd/gateway.yaml'), 'utf8'))
    const gateway = docs
      .map(
        (d) =>
          d.toJS() as {
            kind: string
            spec: { servers: { port: { protocol: string }; tls?: unknown }[] }
          },
      )
      .find((d) => d.kind === 'Gateway')!
    const https = gateway.spec.servers.find((s) => s.port.protocol === 'HTTPS')!
    https.tls = (parse(tlsSnippet) as { tls: unknown }).tls
    const edited = [docs[0]!.toString(), stringify(gateway)].join('---\n')
    const editFile = join(mkdtempSync(join(tmpdir(), 'portcullis-vm-edit-')), 'gateway.yaml')
    writeFileSync(editFile, edited)
    try {
      await installAndProbe([credentials, `cp ${editFile} /etc/portcullis/gateway.yaml`], false)
    } finally {
      rmSync(dirname(editFile), { recursive: true, force: true })
    }
  })
})
