// Every `portcullis describe` example in docs/diagnostics.md, run exactly as printed: the real
// CLI in a child process from the repository root, its stdout compared with the block.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from './harness/index.js'

interface Example {
  readonly command: string
  readonly output: string
}

function examples(markdown: string): Example[] {
  const found: Example[] = []
  const blocks = markdown.matchAll(/^```console\n([\s\S]*?)^```$/gm)
  for (const [, body] of blocks) {
    const [first, ...rest] = (body ?? '').split('\n')
    if (first === undefined || !first.startsWith('$ portcullis describe ')) continue
    found.push({ command: first.slice(2), output: rest.join('\n') })
  }
  return found
}

/** The shell words of a command line: spaces split, single quotes group (all the docs use). */
function words(line: string): string[] {
  const out: string[] = []
  for (const m of line.matchAll(/'([^']*)'|(\S+)/g)) out.push(m[1] ?? m[2]!)
  return out
}

const docs = readFileSync(join(REPO_ROOT, 'docs', 'diagnostics.md'), 'utf8')
const found = examples(docs)

test('docs/diagnostics.md has describe examples', () => {
  assert.ok(found.length >= 3, `found ${found.length}`)
})

for (const example of found) {
  test(example.command, () => {
    const [, ...args] = words(example.command)
    const env = { ...process.env }
    delete env['NODE_TEST_CONTEXT']
    const res = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'src', 'main.ts'), ...args],
      { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 60_000 },
    )
    assert.equal(res.stderr, '')
    assert.equal(res.status, 0)
    assert.equal(res.stdout, example.output)
  })
}
