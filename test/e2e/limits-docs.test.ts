// docs/limits.md's YAML examples, as printed: each loads without a diagnostic, and the
// overload example compiles into the settings its comments describe.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { compile } from '../../src/compile/index.js'
import { loadConfigText } from '../../src/config/index.js'
import { REPO_ROOT } from './harness/index.js'

const md = readFileSync(join(REPO_ROOT, 'docs', 'limits.md'), 'utf8')
const blocks = [...md.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!)

test('every YAML example of docs/limits.md loads with no diagnostic', () => {
  assert.equal(blocks.length, 4)
  for (const [i, block] of blocks.entries()) {
    const loaded = loadConfigText({ 'limits.yaml': block })
    assert.deepEqual(loaded.diagnostics, [], `example ${i + 1}`)
  }
})

test('the overload example compiles to a 200 ms delay guard and a cap of 2 000', () => {
  const block = blocks.find((b) => b.includes('maxActiveRequests'))
  assert.ok(block !== undefined, 'docs/limits.md has the overload example')
  const compiled = compile(loadConfigText({ 'limits.yaml': block }).resources)
  assert.deepEqual(compiled.snapshot.settings.overload, {
    maxEventLoopDelayMs: 200,
    maxActiveRequests: 2000,
    retryAfterSeconds: 1,
  })
})
