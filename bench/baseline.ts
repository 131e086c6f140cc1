// A second build of Portcullis to measure beside the current one in the same run: an existing
// dist directory (--baseline-dist), or a git ref (--baseline-ref) exported with `git archive`
// into a temporary directory (no worktree, no checkout change) and built there with this
// checkout's node_modules. The bench runs it as the `baseline` and `baseline-https` targets.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { TargetResult } from './report.js'
import { median, pairsByRound } from './rounds.js'

export interface Baseline {
  /** The entry point to run (`<dist>/main.js`). */
  readonly entry: string
  readonly note: string
  dispose(): void
}

export function prepareBaseline(
  repoRoot: string,
  opts: { readonly dist?: string; readonly ref?: string },
): Baseline | undefined {
  if (opts.dist !== undefined) {
    const entry = join(resolve(opts.dist), 'main.js')
    if (!existsSync(entry)) throw new Error(`--baseline-dist: ${entry} does not exist`)
    return { entry, note: opts.dist, dispose: () => undefined }
  }
  if (opts.ref === undefined) return undefined
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-baseline-'))
  const dispose = (): void => rmSync(dir, { recursive: true, force: true })
  try {
    const commit = run('git', ['rev-parse', '--short', `${opts.ref}^{commit}`], repoRoot).trim()
    const archive = spawnSync('git', ['archive', '--format=tar', commit], {
      cwd: repoRoot,
      maxBuffer: 512 * 1024 * 1024,
    })
    if (archive.status !== 0) throw new Error(`git archive ${commit}: ${String(archive.stderr)}`)
    const untar = spawnSync('tar', ['-x', '-C', dir], { input: archive.stdout })
    if (untar.status !== 0) throw new Error(`tar: ${String(untar.stderr)}`)
    symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'))
    console.log(`Building the baseline ${opts.ref} (${commit}) in ${dir}`)
    run(
      process.execPath,
      [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
      dir,
    )
    return { entry: join(dir, 'dist', 'main.js'), note: `${opts.ref} (${commit})`, dispose }
  } catch (e) {
    dispose()
    throw e
  }
}

function run(program: string, args: string[], cwd: string): string {
  const r = spawnSync(program, args, { cwd, encoding: 'utf8' })
  if (r.status !== 0)
    throw new Error(`${program} ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`)
  return r.stdout
}

/**
 * Current / baseline, for the HTTP and HTTPS keep-alive targets measured in this run: one line
 * per round, and with several rounds their median and range.
 */
export function formatBaselineRatios(results: TargetResult[]): string[] {
  const pairs = [
    ['portcullis', 'baseline'],
    ['portcullis-https', 'baseline-https'],
  ] as const
  const lines: string[] = []
  // % of one core / (requests/s) x 10 000 = CPU microseconds per request.
  const cpuUs = (r: TargetResult): number =>
    (10_000 * (r.cpuPercent ?? Number.NaN)) / (r.load?.requestsPerSecond ?? Number.NaN)
  for (const [current, base] of pairs) {
    const rounds = pairsByRound(results, current, base)
    const cpuRatios: number[] = []
    const throughputs: number[] = []
    for (const { round, a, b } of rounds) {
      const throughput = a.load!.requestsPerSecond / b.load!.requestsPerSecond
      const cpu = cpuUs(a) / cpuUs(b)
      cpuRatios.push(cpu)
      throughputs.push(throughput)
      const tag = rounds.length > 1 ? ` (round ${round})` : ''
      lines.push(
        `${current} / ${base}${tag}: throughput ${throughput.toFixed(3)}, CPU per request ` +
          `${cpu.toFixed(3)} (${cpuUs(a).toFixed(0)} vs ${cpuUs(b).toFixed(0)} CPU-µs)`,
      )
    }
    if (rounds.length > 1) {
      lines.push(
        `${current} / ${base}, median of ${rounds.length} rounds: throughput ` +
          `${median(throughputs).toFixed(3)}, CPU per request ${median(cpuRatios).toFixed(3)} ` +
          `(range ${Math.min(...cpuRatios).toFixed(3)}–${Math.max(...cpuRatios).toFixed(3)})`,
      )
    }
  }
  return lines
}
