// bench/instructions.ts end to end, shortened: both PROXY sides start under callgrind, serve
// their requests with none failing, and the report prints a count per side and the ratio with
// its bound. The counts themselves are the benchmark's business, not this test's.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { compileInstructionsIn } from '../../bench/callgrind-compile.js'
import { parseInstructionOptions } from '../../bench/instructions-options.js'
import { REPO_ROOT } from '../e2e/harness/index.js'

const hasValgrind = spawnSync('valgrind', ['--version']).status === 0
const hasDist = existsSync(join(REPO_ROOT, 'dist', 'main.js'))

test(
  'npm run bench:instructions -- --only=proxy runs both sides and prints their ratio',
  {
    skip: !hasValgrind || !hasDist ? 'needs valgrind and dist/ (npm run build)' : false,
    timeout: 600_000,
  },
  async () => {
    const args = [
      '--only=proxy',
      '--requests=100',
      '--windows=1',
      '--warmup=200',
      '--idle-seconds=1',
    ]
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/instructions.ts', ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    const code = await new Promise<number | null>((r) => child.once('exit', r))
    // 0: within the bound; 2: outside it (likely with so few requests). Anything else failed.
    assert.ok(code === 0 || code === 2, `exit ${code}\n${out}`)
    for (const side of ['new-conn', 'proxy-v2-new-conn']) {
      assert.match(
        out,
        new RegExp(`^\\| ${side} \\| \\d+ \\| \\d+ \\| [\\d.]+ M \\| [\\d.]+ M \\| 0 \\|$`, 'm'),
        out,
      )
    }
    assert.match(
      out,
      /^proxy-v2-new-conn \/ new-conn: \d\.\d{3}x instructions per request .*bound 1\.03x\): (ok|MISSED)$/m,
    )
  },
)

test('the bench:instructions commands bench/README.md prints parse with its options', () => {
  const readme = readFileSync(join(REPO_ROOT, 'bench', 'README.md'), 'utf8')
  const commands = readme.split('\n').filter((l) => l.startsWith('npm run bench:instructions'))
  assert.ok(commands.length >= 2)
  for (const c of commands) {
    const args = c
      .replace(/^npm run bench:instructions( -- )?/, '')
      .split(' ')
      .filter(Boolean)
    assert.doesNotThrow(() => parseInstructionOptions(args), c)
  }
})

test("compiling instructions are the compilers' own functions in callgrind_annotate's list", () => {
  const annotated = [
    '--------------------------------------------------------------------------------',
    'Ir                   file:function',
    '--------------------------------------------------------------------------------',
    '300,000,000 (100.0%)  PROGRAM TOTALS',
    ' 5,000,000 ( 1.67%)  ???:Builtins_KeyedLoadIC_Megamorphic [/usr/bin/node]',
    ' 2,000,000 ( 0.67%)  ???:v8::internal::compiler::GraphReducer::ReduceTop() [/usr/bin/node]',
    '   500,000 ( 0.17%)  ???:v8::internal::maglev::MaglevGraphBuilder::Build() [/usr/bin/node]',
    '    40,000 ( 0.01%)  ???:v8::internal::baseline::BaselineCompiler::Build() [/usr/bin/node]',
    '     1,234 ( 0.00%)  ???:v8::internal::Zone::Expand(unsigned long) [/usr/bin/node]',
    '   900,000 ( 0.30%)  ???:v8::internal::Scavenger::ScavengePage(v8::internal::MemoryChunk*) [/usr/bin/node]',
    '   100,000 ( 0.03%)  ???:v8::internal::ZoneList<int>::Add(int) [/usr/bin/node]',
  ].join('\n')
  assert.equal(compileInstructionsIn(annotated), 2_000_000 + 500_000 + 40_000 + 1_234)
})
