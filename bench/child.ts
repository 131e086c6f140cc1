// Child processes for the benchmark: optionally pinned to a CPU with taskset, output captured by
// line, and always killed when the benchmark exits.
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcessByStdio } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'

export interface Child {
  name: string
  proc: ChildProcessByStdio<null, Readable, Readable>
  lines: string[]
  exited: Promise<number | null>
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>
}

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))
const children = new Set<Child>()
let isExitHookInstalled = false

export function hasTaskset(): boolean {
  return spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0
}

// Prefixes argv with `taskset -c <cpu>` when a CPU is given.
export function pinned(cpu: string | undefined, argv: string[]): string[] {
  return cpu === undefined ? argv : ['taskset', '-c', cpu, ...argv]
}

export function killAllChildren(): void {
  for (const child of children) child.proc.kill('SIGKILL')
}

export function startChild(name: string, argv: string[], env: NodeJS.ProcessEnv = {}): Child {
  if (!isExitHookInstalled) {
    isExitHookInstalled = true
    process.once('exit', killAllChildren)
  }
  const [program, ...args] = argv
  if (program === undefined) throw new Error(`${name}: empty command`)
  const proc = spawn(program, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: string[] = []
  type Waiter = (line: string) => boolean
  const waiters = new Set<Waiter>()
  const onLine = (line: string): void => {
    lines.push(line)
    for (const waiter of waiters) if (waiter(line)) waiters.delete(waiter)
  }
  createInterface({ input: proc.stdout }).on('line', onLine)
  createInterface({ input: proc.stderr }).on('line', onLine)
  const exited = new Promise<number | null>((resolve) => {
    proc.once('error', (err) => {
      lines.push(`spawn error: ${err.message}`)
      resolve(null)
    })
    proc.once('exit', (code) => resolve(code))
  })

  const child: Child = {
    name,
    proc,
    lines,
    exited,
    waitForLine(pattern, timeoutMs) {
      for (const line of lines) {
        const m = pattern.exec(line)
        if (m) return Promise.resolve(m)
      }
      return new Promise((resolve, reject) => {
        const fail = (why: string): void => {
          waiters.delete(waiter)
          clearTimeout(timer)
          reject(
            new Error(
              `${name} ${why} (waiting for ${pattern}):\n  ${lines.slice(-20).join('\n  ')}`,
            ),
          )
        }
        const timer = setTimeout(
          () => fail(`printed nothing matching within ${timeoutMs} ms`),
          timeoutMs,
        )
        const waiter: Waiter = (line) => {
          const m = pattern.exec(line)
          if (!m) return false
          clearTimeout(timer)
          resolve(m)
          return true
        }
        waiters.add(waiter)
        void exited.then((code) => fail(`exited with code ${code}`))
      })
    },
    async stop(signal = 'SIGTERM', timeoutMs = 30_000) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<'timeout'>(
        (r) => (timer = setTimeout(() => r('timeout'), timeoutMs)),
      )
      const result = await Promise.race([exited, timeout])
      clearTimeout(timer)
      if (result === 'timeout') {
        proc.kill('SIGKILL')
        await exited
        throw new Error(`${name} did not exit within ${timeoutMs} ms of ${signal}`)
      }
      children.delete(child)
      return result
    },
  }
  children.add(child)
  void exited.then(() => children.delete(child))
  return child
}

/** bench/upstream.ts as a child (pinned to `cpu` when given), once it listens, with its port. */
export async function startBenchUpstream(cpu?: string): Promise<{ child: Child; port: number }> {
  const child = startChild(
    'upstream',
    pinned(cpu, [process.execPath, '--import', 'tsx', 'bench/upstream.ts']),
  )
  const port = Number((await child.waitForLine(/^listening (\d+)/, 15_000))[1])
  return { child, port }
}
