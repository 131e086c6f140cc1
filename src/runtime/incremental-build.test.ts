// The parse cache and the compile memos `run` reloads through must build exactly what a cold start
// builds from the same files: for random sequences of edits across files (VirtualServices,
// ServiceEntries, DestinationRules added, changed, removed; the Gateway's hosts changed; files
// deleted, rewritten unchanged, broken), the snapshot hash, config_dump body, diagnostics and
// file list are compared after every edit.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { compile, createIncrementalCompile } from '../compile/index.js'
import { createConfigLoader, loadConfig } from '../config/index.js'
import { buildSnapshot, type BuildResult } from './build.js'

const RUNS = { seed: 20261202, numRuns: 25 }
const TENANTS = 5
const BACKENDS = 3

const BASE = `apiVersion: portcullis.io/v1alpha1
kind: GatewayConfig
metadata:
  name: gateway
spec:
  bindAddress: 127.0.0.1
  readiness:
    port: 15999
  admin:
    port: 0
  metrics:
    port: 0
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: edge
spec:
  servers:
    - port:
        number: 8080
        name: http
        protocol: HTTP
      hosts: ["*"]
`

// The Gateway's server hosts, for edits of the shared file: every tenant, one tenant (the others
// report PC3004), none of them.
const SERVER_HOSTS = ['"*"', 't1.example.com', 'other.example.org']

interface TenantFile {
  /** The VirtualService's variant and the backend it routes to. */
  readonly vs?: { readonly variant: number; readonly backend: number; readonly name: number }
  readonly se?: { readonly backend: number; readonly port: number }
  readonly dr?: { readonly backend: number; readonly maxConnections: number }
}

function virtualService(t: number, vs: NonNullable<TenantFile['vs']>): string {
  const route = `        - destination:
            host: backend-${vs.backend}.upstream.test
            port:
              number: 80`
  const api =
    vs.variant % 2 === 0
      ? ''
      : `    - match:
        - uri:
            prefix: /api/v${vs.variant}/
      route:
${route}
`
  // Variant 2: a route after the catch-all, which compile reports (PC3001) and leaves out.
  const late =
    vs.variant === 2
      ? `    - match:
        - uri:
            prefix: /late/
      route:
${route}
`
      : ''
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: vs-${vs.name}
spec:
  hosts: [t${t}.example.com]
  gateways: [edge]
  http:
${api}    - route:
${route}
${late}`
}

function serviceEntry(se: NonNullable<TenantFile['se']>): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: backend-${se.backend}
spec:
  hosts: [backend-${se.backend}.upstream.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
    - number: 80
      name: http
      protocol: HTTP
  endpoints:
    - address: 127.0.0.1
      ports:
        http: ${se.port}
`
}

function destinationRule(dr: NonNullable<TenantFile['dr']>): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: backend-${dr.backend}
spec:
  host: backend-${dr.backend}.upstream.test
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: ${dr.maxConnections}
`
}

function tenantText(t: number, f: TenantFile): string {
  const docs: string[] = []
  if (f.vs !== undefined) docs.push(virtualService(t, f.vs))
  if (f.se !== undefined) docs.push(serviceEntry(f.se))
  if (f.dr !== undefined) docs.push(destinationRule(f.dr))
  return docs.join('---\n')
}

type Edit =
  | { readonly kind: 'write'; readonly tenant: number; readonly file: TenantFile }
  | { readonly kind: 'delete'; readonly tenant: number }
  | { readonly kind: 'touch'; readonly tenant: number }
  | { readonly kind: 'break'; readonly tenant: number }
  | { readonly kind: 'gateway'; readonly hosts: number }

const backend = fc.nat(BACKENDS - 1)
const tenantFile: fc.Arbitrary<TenantFile> = fc.record(
  {
    // Names collide across tenants on purpose: a later definition replaces an earlier one.
    vs: fc.record({ variant: fc.nat(3), backend, name: fc.nat(TENANTS + 1) }),
    se: fc.record({ backend, port: fc.integer({ min: 9000, max: 9002 }) }),
    dr: fc.record({ backend, maxConnections: fc.integer({ min: 1, max: 3 }) }),
  },
  { requiredKeys: [] },
)
const tenant = fc.nat(TENANTS - 1)
const edit: fc.Arbitrary<Edit> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('write'), tenant, file: tenantFile }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete'), tenant }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('touch'), tenant }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('break'), tenant }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('gateway'),
      hosts: fc.nat(SERVER_HOSTS.length - 1),
    }),
  },
)

/** Writes; `stampAt` gives each write its own mtime (file times tick coarsely otherwise). */
function apply(
  dir: string,
  e: Edit,
  written: Map<number, string>,
  stampAt: (path: string) => void,
): string {
  if (e.kind === 'gateway') {
    // The shared file: the bindings of every VirtualService change with the Gateway.
    const base = join(dir, 'base.yaml')
    writeFileSync(base, BASE.replace('["*"]', `[${SERVER_HOSTS[e.hosts]!}]`))
    stampAt(base)
    return base
  }
  const path = join(dir, `tenant-${e.tenant}.yaml`)
  const writeFile = (text: string): void => {
    writeFileSync(path, text)
    stampAt(path)
  }
  switch (e.kind) {
    case 'write': {
      const text = tenantText(e.tenant, e.file)
      writeFile(text)
      written.set(e.tenant, text)
      return path
    }
    case 'delete':
      if (written.delete(e.tenant)) unlinkSync(path)
      return path
    case 'touch': {
      // The same bytes written again: a new stamp, nothing to parse.
      const text = written.get(e.tenant)
      if (text !== undefined) writeFile(text)
      return path
    }
    case 'break':
      writeFile('kind: [unclosed\n')
      written.set(e.tenant, 'kind: [unclosed\n')
      return path
  }
}

/** What a client of the gateway can see of a build: outcome, diagnostics, hash, config_dump. */
function observable(b: BuildResult): unknown {
  return {
    ok: b.ok,
    diagnostics: b.diagnostics,
    sourceHash: b.sourceHash,
    files: b.files,
    ...(b.ok ? { hash: b.snapshot.hash, configDump: JSON.stringify(b.snapshot) } : {}),
  }
}

describe('incremental build (parse cache) equals a cold start', () => {
  // Fresh files are never trusted by stamp (the racy window), so they are read and digested;
  // with a clock an hour ahead and a distinct mtime per write, unchanged files are not read.
  // `hinted`: each load is told the one file the edit touched, as the watcher names it.
  for (const [trustStamps, hinted] of [
    [false, false],
    [true, false],
    [true, true],
  ] as const) {
    test(`after every edit of random edit sequences (fast-check, seeded${trustStamps ? ', stamps trusted' : ''}${hinted ? ', changed files named' : ''})`, () => {
      fc.assert(
        fc.property(fc.array(edit, { minLength: 1, maxLength: 12 }), (edits) => {
          const dir = mkdtempSync(join(tmpdir(), 'portcullis-incremental-'))
          try {
            let tick = 0
            const epoch = Date.now() - 3_600_000
            const stampAt = (path: string): void => {
              if (!trustStamps) return
              const t = new Date(epoch + ++tick * 1000)
              utimesSync(path, t, t)
            }
            writeFileSync(join(dir, 'base.yaml'), BASE)
            stampAt(join(dir, 'base.yaml'))
            const loader = createConfigLoader(
              trustStamps ? { now: () => Date.now() + 3_600_000 } : {},
            )
            const compileAgain = createIncrementalCompile()
            const incremental = (p: readonly string[], changed?: string) =>
              buildSnapshot(p, compileAgain, (q) =>
                loader.load(q, hinted && changed !== undefined ? new Set([changed]) : undefined),
              )
            const cold = (p: readonly string[]) => buildSnapshot(p, compile, loadConfig)
            const written = new Map<number, string>()
            assert.deepEqual(observable(incremental([dir])), observable(cold([dir])))
            for (const e of edits) {
              const touched = apply(dir, e, written, stampAt)
              assert.deepEqual(
                observable(incremental([dir], touched)),
                observable(cold([dir])),
                e.kind,
              )
              if (trustStamps)
                assert.ok(loader.lastRead.length <= 1, 'only the edited file is read')
            }
          } finally {
            rmSync(dir, { recursive: true, force: true })
          }
        }),
        RUNS,
      )
    })
  }

  test('a file older than the racy window is not read again; a changed one is', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-incremental-'))
    try {
      writeFileSync(join(dir, 'base.yaml'), BASE)
      const a = join(dir, 'tenant-0.yaml')
      const b = join(dir, 'tenant-1.yaml')
      writeFileSync(a, tenantText(0, { vs: { variant: 0, backend: 0, name: 0 } }))
      writeFileSync(b, tenantText(1, { se: { backend: 0, port: 9000 } }))
      // A clock an hour ahead makes every file "old"; mtime is set back too, for the record.
      const later = () => Date.now() + 3_600_000
      const past = new Date(Date.now() - 3_600_000)
      for (const f of [a, b, join(dir, 'base.yaml')]) utimesSync(f, past, past)
      const loader = createConfigLoader({ now: later })
      const first = buildSnapshot([dir], compile, loader.load)
      assert.equal(first.ok, true)
      assert.equal(loader.lastRead.length, 3)
      const again = buildSnapshot([dir], compile, loader.load)
      assert.deepEqual(loader.lastRead, [], 'nothing changed: nothing read')
      assert.deepEqual(observable(again), observable(first))
      writeFileSync(a, tenantText(0, { vs: { variant: 1, backend: 0, name: 0 } }))
      const changed = buildSnapshot([dir], compile, loader.load)
      assert.deepEqual(loader.lastParsed, [
        a.startsWith(process.cwd()) ? a.slice(process.cwd().length + 1) : a,
      ])
      assert.deepEqual(observable(changed), observable(buildSnapshot([dir], compile, loadConfig)))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
