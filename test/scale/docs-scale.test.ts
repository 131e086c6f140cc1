// The example in docs/scale.md, run exactly as printed, gives the config the page describes.
import assert from 'node:assert/strict'
import { execSync } from 'node:child_process'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { compile } from '../../src/compile/index.js'
import { loadConfig } from '../../src/config/index.js'
import { buildSnapshot } from '../../src/runtime/index.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const OUT = join(ROOT, 'bench/results/scale-1000')

test('docs/scale.md: the generator example writes 1 000 tenant files that build', () => {
  const page = readFileSync(join(ROOT, 'docs/scale.md'), 'utf8')
  const blocks = [...page.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.trim())
  assert.equal(blocks.length, 1)
  rmSync(OUT, { recursive: true, force: true })
  try {
    execSync(blocks[0]!, { cwd: ROOT, stdio: 'pipe' })
    assert.ok(existsSync(join(OUT, 'base.yaml')))
    assert.ok(existsSync(join(OUT, 'tenant-000000.yaml')))
    assert.ok(existsSync(join(OUT, 'tenant-000999.yaml')))
    assert.ok(!existsSync(join(OUT, 'tenant-001000.yaml')))
    const built = buildSnapshot([OUT], compile, loadConfig)
    assert.equal(built.ok, true, JSON.stringify(built.diagnostics.slice(0, 3)))
    assert.equal(built.files.length, 1001)
    if (!built.ok) return
    const table = built.snapshot.listeners[0]?.chains[0]
    assert.equal(built.snapshot.listeners[0]?.port, 8080)
    assert.ok(table?.kind === 'http')
    assert.ok(
      table.routeTable.virtualHosts.some((v) => v.domains[0] === 't999.tenants.example.com'),
    )
  } finally {
    rmSync(OUT, { recursive: true, force: true })
  }
})
