// docs/performance.md: every command it prints is checked as printed. The bench commands are
// parsed by the bench's own option parser (valid flags and target names; running them is the
// benchmark itself, minutes long, so the test does not), the k6 commands name a script that
// exists and only environment variables that script family reads.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseInstructionOptions } from '../../bench/instructions-options.js'
import { parseOptions } from '../../bench/options.js'
import { REPO_ROOT } from './harness/gateway.js'

const doc = readFileSync(join(REPO_ROOT, 'docs', 'performance.md'), 'utf8')
const commands = [...doc.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) =>
  m[1]!.split('\n').filter((l) => l.trim() !== ''),
)

describe('docs/performance.md commands', () => {
  test('the page prints commands, and only ones this test knows how to check', () => {
    assert.ok(commands.length >= 5)
    for (const c of commands) {
      assert.match(c, /^(npm run build|npm run bench(:instructions)?( -- .*)?|k6 run .*)$/, c)
    }
  })

  test('every bench command parses with the bench options', () => {
    for (const c of commands.filter((l) => /^npm run bench( |$)/.test(l))) {
      const args = c
        .replace(/^npm run bench( -- )?/, '')
        .split(' ')
        .filter((a) => a !== '')
      assert.doesNotThrow(() => parseOptions(args, {}), c)
    }
  })

  test('every bench:instructions command parses with its options', () => {
    for (const c of commands.filter((l) => l.startsWith('npm run bench:instructions'))) {
      const args = c
        .replace(/^npm run bench:instructions( -- )?/, '')
        .split(' ')
        .filter((a) => a !== '')
      assert.doesNotThrow(() => parseInstructionOptions(args), c)
    }
  })

  test('every k6 command names a script in bench/k6 and variables it reads', () => {
    const config = readFileSync(join(REPO_ROOT, 'bench', 'k6', 'config.ts'), 'utf8')
    for (const c of commands.filter((l) => l.startsWith('k6 run'))) {
      const script = c.split(' ').at(-1)!
      assert.ok(existsSync(join(REPO_ROOT, script)), script)
      const source = config + readFileSync(join(REPO_ROOT, script), 'utf8')
      for (const [, name] of c.matchAll(/-e ([A-Z_]+)=/g)) {
        assert.ok(source.includes(`__ENV['${name!}']`), `${script} does not read ${name!}`)
      }
    }
  })
})
