import { spawn } from 'node:child_process'
import type { ChildProcessByStdio } from 'node:child_process'
import { rmSync } from 'node:fs'
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { get } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join, resolve, sep } from 'node:path'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'

export { gatewayConfigDoc, joinDocs, proxyRouteDocs } from './config-docs.js'
export type { GatewayConfigDocOptions, ProxyRouteOptions } from './config-docs.js'

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))

export interface StartGatewayOptions {
  // The whole multi-document gateway.yaml.
  yaml: string
  // Extra files written next to gateway.yaml (relative paths, e.g. 'certs/web/tls.crt').
  files?: Record<string, string>
  env?: Record<string, string | undefined>
  // Where /healthz/ready answers. Read from the GatewayConfig document when not given.
  readinessPort?: number
  // false: return as soon as the process is spawned (e.g. to test a config it must refuse).
  waitForReady?: boolean
  readyTimeoutMs?: number
  // Appended after `run -c <configPath>`.
  extraArgs?: string[]
  // Run the built CLI (bin/portcullis, needs `npm run build`) instead of src/ via tsx.
  // PORTCULLIS_E2E_BIN=1 turns this on for a whole test run.
  useBin?: boolean
  // Replaces the program prefix (default: node --import tsx src/main.ts). For harness tests.
  command?: string[]
}

export interface OutputLine {
  stream: 'stdout' | 'stderr'
  line: string
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface WaitForLineOptions {
  // Only consider lines at or after this index in `output` (see mark()).
  since?: number
  stream?: 'stdout' | 'stderr'
}

export interface GatewayProcess {
  dir: string
  configPath: string
  proc: ChildProcessByStdio<null, Readable, Readable>
  stdout: string[]
  stderr: string[]
  // Both streams interleaved in the order lines arrived.
  output: OutputLine[]
  readinessPort: number | undefined
  // Settles when the process has exited and its output is fully read.
  exited: Promise<Exit>
  // Index into `output` to pass as `since`, to wait only for lines printed after this point.
  mark(): number
  waitForLine(pattern: RegExp, timeoutMs?: number, opts?: WaitForLineOptions): Promise<string>
  waitForReady(timeoutMs?: number): Promise<void>
  // Replaces gateway.yaml atomically (write a sibling, then rename over it).
  writeConfig(yaml: string): Promise<void>
  writeFile(relativePath: string, contents: string): Promise<void>
  reload(): void
  // Sends the signal and resolves with the exit code (null if it died by a signal). If it has
  // not exited within timeoutMs it is killed and this rejects.
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>
  kill(): Promise<void>
  // kill() and remove the temp dir. Safe to call more than once; register it with t.after.
  cleanup(): Promise<void>
}

interface Live {
  proc: { kill(signal: NodeJS.Signals): boolean; exitCode: number | null }
  dir: string
}

const live = new Set<Live>()
let isExitHookInstalled = false

// A test process that dies (or forgets t.after) must not leave gateways listening.
function installExitHook(): void {
  if (isExitHookInstalled) return
  isExitHookInstalled = true
  process.once('exit', () => {
    for (const entry of live) {
      try {
        entry.proc.kill('SIGKILL')
      } catch {
        // already gone
      }
      rmSync(entry.dir, { recursive: true, force: true })
    }
  })
}

// Reads readiness.port from the GatewayConfig document, if the YAML parses and has one.
export function readinessPortOf(yaml: string): number | undefined {
  try {
    for (const doc of parseAllDocuments(yaml)) {
      if (!('toJS' in doc)) continue
      const value = doc.toJS() as {
        kind?: unknown
        spec?: { readiness?: { port?: unknown } }
      } | null
      const port = value?.spec?.readiness?.port
      if (value?.kind === 'GatewayConfig' && typeof port === 'number') return port
    }
  } catch {
    // A config the test means to be broken; the caller decides what to wait for.
  }
  return undefined
}

function probeReady(port: number): Promise<string> {
  return new Promise((resolvePromise) => {
    const req = get(
      { host: '127.0.0.1', port, path: '/healthz/ready', agent: false, timeout: 1000 },
      (res) => {
        res.resume()
        resolvePromise(String(res.statusCode))
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (err: NodeJS.ErrnoException) => resolvePromise(err.code ?? err.message))
  })
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref())
}

function insideDir(dir: string, relativePath: string): string {
  const target = resolve(dir, relativePath)
  if (!target.startsWith(dir + sep)) throw new Error(`${relativePath} is outside ${dir}`)
  return target
}

async function writeAtomically(path: string, contents: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`
  await writeFile(tmp, contents)
  await rename(tmp, path)
}

function programFor(opts: StartGatewayOptions): string[] {
  if (opts.command) return opts.command
  if (opts.useBin ?? process.env['PORTCULLIS_E2E_BIN'] === '1') {
    return [process.execPath, join(REPO_ROOT, 'bin', 'portcullis')]
  }
  return [process.execPath, '--import', 'tsx', join(REPO_ROOT, 'src', 'main.ts')]
}

function tail(lines: OutputLine[], n = 40): string {
  return lines
    .slice(-n)
    .map((l) => `  [${l.stream}] ${l.line}`)
    .join('\n')
}

// Starts `portcullis run -c <tmpdir>/gateway.yaml` as a child process and waits until its
// readiness endpoint answers 200.
export async function startGateway(opts: StartGatewayOptions): Promise<GatewayProcess> {
  const readinessPort = opts.readinessPort ?? readinessPortOf(opts.yaml)
  if (opts.waitForReady !== false && !readinessPort) {
    throw new Error(
      'startGateway: no readiness port (pass readinessPort, or put gatewayConfigDoc() in the yaml)',
    )
  }
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-e2e-'))
  const configPath = join(dir, 'gateway.yaml')
  await writeFile(configPath, opts.yaml)
  for (const [rel, contents] of Object.entries(opts.files ?? {})) {
    await writeAtomically(insideDir(dir, rel), contents)
  }

  const [program, ...programArgs] = programFor(opts)
  if (program === undefined) throw new Error('startGateway: empty command')
  const env: Record<string, string | undefined> = { ...process.env, ...opts.env }
  // The gateway is not a test file; node:test's child marker would change its output handling.
  delete env['NODE_TEST_CONTEXT']
  const proc = spawn(
    program,
    [...programArgs, 'run', '-c', configPath, ...(opts.extraArgs ?? [])],
    {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  const entry: Live = { proc, dir }
  live.add(entry)
  installExitHook()

  const stdout: string[] = []
  const stderr: string[] = []
  const output: OutputLine[] = []
  type Waiter = { test(line: OutputLine, index: number): boolean; fail(err: Error): void }
  const waiters = new Set<Waiter>()
  let exit: Exit | undefined

  const onLine = (stream: 'stdout' | 'stderr', line: string): void => {
    const item = { stream, line }
    ;(stream === 'stdout' ? stdout : stderr).push(line)
    output.push(item)
    for (const waiter of waiters) if (waiter.test(item, output.length - 1)) waiters.delete(waiter)
  }
  const outDone = new Promise<void>((r) =>
    createInterface({ input: proc.stdout, crlfDelay: Infinity })
      .on('line', (l) => onLine('stdout', l))
      .on('close', r),
  )
  const errDone = new Promise<void>((r) =>
    createInterface({ input: proc.stderr, crlfDelay: Infinity })
      .on('line', (l) => onLine('stderr', l))
      .on('close', r),
  )
  const exited = new Promise<Exit>((resolveExit) => {
    let isFinishing = false
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (isFinishing) return
      isFinishing = true
      void Promise.all([outDone, errDone]).then(() => {
        exit = { code, signal }
        live.delete(entry)
        const err = new Error(`gateway exited (code ${code}, signal ${signal})\n${tail(output)}`)
        for (const waiter of waiters) waiter.fail(err)
        waiters.clear()
        resolveExit(exit)
      })
    }
    proc.once('exit', finish)
    // spawn failures (e.g. ENOENT) emit 'error' and no 'exit'.
    proc.once('error', (err) => {
      onLine('stderr', `spawn error: ${err.message}`)
      finish(null, null)
    })
  })

  const waitForLine = (
    pattern: RegExp,
    // Deadlines, not delays: a line that comes returns at once, and on a machine at load 10+
    // a cold `tsx` start alone can take several seconds.
    timeoutMs = 15_000,
    lineOpts: WaitForLineOptions = {},
  ): Promise<string> => {
    const since = lineOpts.since ?? 0
    const matches = (item: OutputLine, index: number): boolean =>
      index >= since &&
      (lineOpts.stream === undefined || lineOpts.stream === item.stream) &&
      pattern.test(item.line)
    for (let i = since; i < output.length; i++) {
      const item = output[i]!
      if (matches(item, i)) return Promise.resolve(item.line)
    }
    if (exit) {
      return Promise.reject(new Error(`gateway already exited; no line matched ${pattern}`))
    }
    return new Promise((resolveLine, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(waiter)
        reject(new Error(`no line matched ${pattern} within ${timeoutMs} ms\n${tail(output)}`))
      }, timeoutMs)
      const waiter: Waiter = {
        test(item, index) {
          if (!matches(item, index)) return false
          clearTimeout(timer)
          resolveLine(item.line)
          return true
        },
        fail(err) {
          clearTimeout(timer)
          reject(err)
        },
      }
      waiters.add(waiter)
    })
  }

  const waitForReady = async (timeoutMs = opts.readyTimeoutMs ?? 60_000): Promise<void> => {
    if (!readinessPort) throw new Error('waitForReady: the gateway has no readiness port')
    const deadline = Date.now() + timeoutMs
    let last = 'no answer yet'
    while (Date.now() < deadline) {
      if (exit) break
      last = await probeReady(readinessPort)
      if (last === '200') return
      await Promise.race([delay(50), exited])
    }
    const why = exit
      ? `exited (code ${exit.code}, signal ${exit.signal}) before it was ready`
      : `was not ready within ${timeoutMs} ms`
    throw new Error(
      `gateway ${why}; last answer from 127.0.0.1:${readinessPort}/healthz/ready: ${last}\n` +
        `command: ${[program, ...programArgs].join(' ')} run -c ${configPath}\n${tail(output)}`,
    )
  }

  const kill = async (): Promise<void> => {
    if (!exit) proc.kill('SIGKILL')
    await exited
  }

  const gateway: GatewayProcess = {
    dir,
    configPath,
    proc,
    stdout,
    stderr,
    output,
    readinessPort,
    exited,
    mark: () => output.length,
    waitForLine,
    waitForReady,
    writeConfig: (yaml) => writeAtomically(configPath, yaml),
    writeFile: async (rel, contents) => writeAtomically(insideDir(dir, rel), contents),
    reload() {
      if (exit) throw new Error('gateway has exited; cannot reload')
      proc.kill('SIGHUP')
    },
    async stop(signal = 'SIGTERM', timeoutMs = 30_000) {
      if (!exit) proc.kill(signal)
      let timer: NodeJS.Timeout | undefined
      const timedOut = new Promise<'timeout'>((r) => {
        timer = setTimeout(() => r('timeout'), timeoutMs)
      })
      const result = await Promise.race([exited, timedOut])
      clearTimeout(timer)
      if (result === 'timeout') {
        await kill()
        throw new Error(`gateway did not exit within ${timeoutMs} ms of ${signal}\n${tail(output)}`)
      }
      return result.code
    },
    kill,
    async cleanup() {
      await kill()
      await rm(dir, { recursive: true, force: true })
    },
  }

  if (opts.waitForReady === false) return gateway
  try {
    await waitForReady()
  } catch (err) {
    await gateway.cleanup()
    throw err
  }
  return gateway
}
