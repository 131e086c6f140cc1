// `portcullis validate` as users run it: the real CLI in a child process on files in a temp dir.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { REPO_ROOT } from './harness/index.js'

interface CliResult {
  status: number | null
  stdout: string
  stderr: string
}

function portcullis(args: string[]): CliResult {
  const env = { ...process.env }
  delete env['NODE_TEST_CONTEXT']
  const res = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'src', 'main.ts'), ...args],
    { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 30_000 },
  )
  return { status: res.status, stdout: res.stdout, stderr: res.stderr }
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-validate-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function gateway(port: number): string {
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: web
spec:
  selector:
    istio: ingressgateway
  servers:
    - port: {number: ${port}, name: http, protocol: HTTP}
      hosts: ["*"]
`
}

// `host:` is line 11 of this document and `weight:` line 12; after gateway() and a `---` they
// are lines 22 and 23 of the file.
function virtualService(host: string, weight: number): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: web
spec:
  hosts: ["*"]
  gateways: [web]
  http:
    - route:
        - destination:
            host: ${host}
          weight: ${weight}
`
}

function write(dir: string, name: string, ...docs: string[]): string {
  const path = join(dir, name)
  writeFileSync(path, docs.join('---\n'))
  return path
}

describe('portcullis validate', () => {
  test('warnings only: exit 0, each warning on stdout with file:line:col, then a summary', (t) => {
    const dir = tempDir(t)
    const file = write(
      dir,
      'gateway.yaml',
      gateway(8080),
      virtualService('missing.example.com', 100),
    )
    const res = portcullis(['validate', file])
    assert.equal(res.status, 0, res.stderr)
    const lines = res.stdout.trimEnd().split('\n')
    assert.match(
      lines[0] ?? '',
      new RegExp(
        `^${escape(file)}:22:19 warning PC2002 VirtualService default/web spec\\.http\\[0\\]\\.route\\[0\\]\\.destination\\.host: `,
      ),
    )
    assert.equal(lines.at(-1), '0 errors, 1 warning')
  })

  test('a schema error: exit 1 with an exact file:line:col error line', (t) => {
    const dir = tempDir(t)
    const file = write(
      dir,
      'gateway.yaml',
      gateway(8080),
      virtualService('backend.example.com', -5),
    )
    const res = portcullis(['validate', file])
    assert.equal(res.status, 1)
    const lines = res.stdout.trimEnd().split('\n')
    assert.ok(
      lines.includes(
        `${file}:23:19 error PC1203 VirtualService default/web spec.http[0].route[0].weight: weight must be >= 0`,
      ),
      res.stdout,
    )
    assert.match(lines.at(-1) ?? '', /^1 error, \d+ warnings?$/)
  })

  test('a compile-stage error (port taken by the readiness server) is reported too', (t) => {
    const dir = tempDir(t)
    const file = write(
      dir,
      'gateway.yaml',
      gateway(15021),
      virtualService('missing.example.com', 100),
    )
    const res = portcullis(['validate', file])
    assert.equal(res.status, 1)
    assert.match(
      res.stdout,
      new RegExp(
        `^${escape(file)}:9:22 error PC1702 Gateway default/web spec\\.servers\\[0\\]\\.port\\.number: `,
        'm',
      ),
    )
  })

  test('a YAML syntax error points at its line', (t) => {
    const dir = tempDir(t)
    const file = write(
      dir,
      'gateway.yaml',
      'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: [web\n',
    )
    const res = portcullis(['validate', file])
    assert.equal(res.status, 1)
    assert.match(res.stdout, new RegExp(`^${escape(file)}:\\d+:\\d+ error PC1002: `, 'm'))
  })

  test('a directory validates every .yaml file in it', (t) => {
    const dir = tempDir(t)
    write(dir, '10-gateway.yaml', gateway(8080))
    write(dir, '20-routes.yaml', virtualService('backend.example.com', -5))
    const res = portcullis(['validate', dir])
    assert.equal(res.status, 1)
    assert.match(res.stdout, /20-routes\.yaml:12:19 error PC1203 /)
  })

  test('--format json parses and carries the diagnostics', (t) => {
    const dir = tempDir(t)
    const file = write(
      dir,
      'gateway.yaml',
      gateway(8080),
      virtualService('backend.example.com', -5),
    )
    const res = portcullis(['validate', '--format', 'json', file])
    assert.equal(res.status, 1)
    const body = JSON.parse(res.stdout) as {
      errors: number
      warnings: number
      diagnostics: { code: string; severity: string; loc?: { file: string; line: number } }[]
    }
    assert.equal(body.errors, 1)
    const weight = body.diagnostics.find((d) => d.code === 'PC1203')
    assert.deepEqual(
      { severity: weight?.severity, file: weight?.loc?.file, line: weight?.loc?.line },
      { severity: 'error', file, line: 23 },
    )
  })

  test('a config that serves nothing: exit 1 naming the file (empty, comments only, no listener)', (t) => {
    const dir = tempDir(t)
    const empty = write(dir, 'empty.yaml', '')
    const comments = write(dir, 'comments.yaml', '# to do\n', '# later\n')
    // A VirtualService alone: documents, but no Gateway server to serve them on.
    const noListener = write(dir, 'routes.yaml', virtualService('web.example.com', 100))
    for (const [file, message] of [
      [empty, /empty\.yaml:1:1 error PC1009: .*empty\.yaml has no documents/],
      [comments, /comments\.yaml:1:1 error PC1009: .*comments\.yaml has no documents/],
      [noListener, /routes\.yaml:1:1 error PC1009 VirtualService default\/web: no listener/],
    ] as const) {
      const res = portcullis(['validate', file])
      assert.equal(res.status, 1, res.stdout)
      assert.match(res.stdout, message)
      assert.match(res.stdout, /^1 error, /m)
    }
  })

  test('a missing file is an error diagnostic, not a crash', (t) => {
    const dir = tempDir(t)
    const res = portcullis(['validate', join(dir, 'nope.yaml')])
    assert.equal(res.status, 1)
    assert.match(res.stdout, / error PC1001: cannot read /)
  })

  for (const [name, args] of [
    ['unknown flag', ['validate', '--strict', 'gateway.yaml']],
    ['no path', ['validate']],
    ['bad format', ['validate', '--format', 'yaml', 'gateway.yaml']],
    ['unknown command', ['lint', 'gateway.yaml']],
  ] as const) {
    test(`bad usage exits 2 with usage on stderr: ${name}`, () => {
      const res = portcullis([...args])
      assert.equal(res.status, 2)
      assert.equal(res.stdout, '')
      assert.match(res.stderr, /^portcullis: .+\n\nUsage: portcullis /)
    })
  }

  test('--help prints usage on stdout and exits 0', () => {
    const res = portcullis(['validate', '--help'])
    assert.equal(res.status, 0)
    assert.match(res.stdout, /^Usage: portcullis validate PATH\.\.\./)
  })

  test('version prints the package version', () => {
    const res = portcullis(['version'])
    assert.equal(res.status, 0)
    assert.match(res.stdout, /^portcullis \d+\.\d+\.\d+ \(node v\d+/)
  })
})

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
