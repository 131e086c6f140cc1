/**
 * The instructions a callgrind dump spent compiling JavaScript to machine code: V8's optimizing
 * compilers (TurboFan `v8::internal::compiler::`, Maglev `v8::internal::maglev::`), its baseline
 * compiler (Sparkplug `v8::internal::baseline::`) and their zone memory (`v8::internal::Zone`).
 *
 * Natively these compilers run on background threads, once per function that gets hot; under
 * `--single-threaded` (bench/instructions.ts) they run on the main thread, inside whichever
 * window a function happened to get hot in. One such window counted 50–70 M instructions more
 * than the others (a third of the window, for a side whose steady state differs from another
 * by 2 %). What a request costs once its code is compiled is the steady state the bounds are
 * about, so the measured windows leave compilation out. GC stays in: it is part of what every
 * request costs.
 */
import { spawnSync } from 'node:child_process'

const COMPILER = /v8::internal::(compiler|maglev|baseline)::|v8::internal::Zone\b/

/** Sums the self cost of compiler functions in `callgrind_annotate`'s function list. */
export function compileInstructionsIn(annotated: string): number {
  let total = 0
  for (const line of annotated.split('\n')) {
    const m = /^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$/.exec(line)
    if (m === null || !COMPILER.test(m[2]!)) continue
    total += Number(m[1]!.replaceAll(',', ''))
  }
  return total
}

/** The compiling instructions of one dump (callgrind_annotate ships with valgrind). */
export function compileInstructions(dump: string): number {
  const run = spawnSync('callgrind_annotate', ['--threshold=100', '--auto=no', dump], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  })
  if (run.status !== 0) {
    throw new Error(`callgrind_annotate ${dump} exited ${run.status}: ${run.stderr}`)
  }
  return compileInstructionsIn(run.stdout)
}
