// The Node floor (bench/floor-proxy.ts) as a side of bench/instructions.ts: run under callgrind
// with the node flags the gateway side gets, so that the two counts differ by what the two
// programs do and nothing else. The floor is TypeScript; it is transpiled to plain JavaScript
// first instead of run through tsx, whose loader would be a second thread and a second module
// pipeline in the counted process.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import ts from 'typescript'
import { startChild } from './child.js'

export interface CountedProcess {
  readonly pid: number
  readonly port: number
  stop(): Promise<void>
}

/** bench/floor-proxy.ts as JavaScript in `dir` (inside the repository, so `undici` resolves). */
function transpiledFloor(dir: string, repoRoot: string): string {
  const source = readFileSync(join(repoRoot, 'bench', 'floor-proxy.ts'), 'utf8')
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  })
  const path = join(dir, `floor-proxy-${process.pid}.mjs`)
  writeFileSync(path, outputText)
  return path
}

/** The floor proxying to `upstreamPort`, as `valgrindNode` (valgrind, node and its flags) runs it. */
export async function startFloor(
  valgrindNode: readonly string[],
  dir: string,
  repoRoot: string,
  upstreamPort: number,
): Promise<CountedProcess> {
  const script = transpiledFloor(dir, repoRoot)
  const child = startChild('floor', [...valgrindNode, script], {
    UPSTREAM_PORT: String(upstreamPort),
  })
  const port = Number((await child.waitForLine(/^listening (\d+)/, 300_000))[1])
  return {
    pid: child.proc.pid ?? 0,
    port,
    async stop() {
      await child.stop('SIGTERM', 120_000).catch(() => child.proc.kill('SIGKILL'))
    },
  }
}
