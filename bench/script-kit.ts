// What the bounded load scripts (`npm run overload`, `npm run soak`) share: options, the entry
// point they run, the PASS/FAIL verdict and the exit code.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from '../test/e2e/harness/gateway.js'
import { killAllChildren } from './child.js'

/** `--name=N`, a positive number. */
export function numberOption(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`))
  const value = Number(arg?.slice(name.length + 3) ?? fallback)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`)
  return value
}

/** The built CLI when there is one (representative numbers), else src/ through tsx. */
export function gatewayEntry(): string[] {
  return existsSync(join(REPO_ROOT, 'dist', 'main.js'))
    ? [join(REPO_ROOT, 'dist', 'main.js')]
    : ['--import', 'tsx', join(REPO_ROOT, 'src', 'main.ts')]
}

/** Prints PASS or the missed thresholds; the exit code to return. */
export function verdict(failures: readonly (string | false)[]): number {
  const missed = failures.filter((f): f is string => typeof f === 'string')
  console.log(missed.length === 0 ? 'PASS' : `FAIL: ${missed.join(', ')}`)
  return missed.length === 0 ? 0 : 1
}

/** Runs `main` and exits with its code; children are killed on an error or Ctrl-C. */
export function runScript(main: () => Promise<number>): void {
  process.once('SIGINT', () => {
    killAllChildren()
    process.exit(130)
  })
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err)
      killAllChildren()
      process.exit(1)
    },
  )
}
