/**
 * A real Prometheus (the Debian package's `/usr/bin/prometheus`) for tests: its own process on a
 * free loopback port, a config and a TSDB in a scratch directory, scraping the given targets
 * every second. Queries go through its HTTP API, as Grafana's do. Every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const PROMETHEUS_BIN = process.env['PROMETHEUS_BIN'] ?? '/usr/bin/prometheus'
const START_TIMEOUT_MS = 30_000
const STOP_TIMEOUT_MS = 10_000

/** One series of an instant-query answer. */
export interface PromSeries {
  readonly metric: Readonly<Record<string, string>>
  /** [unix seconds, value as Prometheus prints it ("NaN", "+Inf", "3")]. */
  readonly value: readonly [number, string]
}

export interface Prometheus {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  /** An instant query (`/api/v1/query`); throws on a PromQL or HTTP error. */
  query(expr: string): Promise<readonly PromSeries[]>
  /** Resolves once every target has been scraped successfully (`health: up`). */
  waitForTargetsUp(timeoutMs?: number): Promise<void>
  /** Kills the process and removes its directory. Safe to call more than once. */
  stop(): Promise<void>
}

export interface PrometheusOptions {
  /** `host:port` targets, scraped at `metricsPath`. */
  readonly targets: readonly string[]
  readonly metricsPath?: string
  /** Default `1s`. */
  readonly scrapeInterval?: string
}

/** Starts Prometheus scraping `targets` and waits until its API answers. */
export async function startPrometheus(options: PrometheusOptions): Promise<Prometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-prometheus-'))
  const interval = options.scrapeInterval ?? '1s'
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      `  scrape_interval: ${interval}`,
      `  evaluation_interval: ${interval}`,
      'scrape_configs:',
      '  - job_name: gateway',
      `    metrics_path: ${options.metricsPath ?? '/stats/prometheus'}`,
      `    scrape_timeout: ${interval}`,
      '    static_configs:',
      `      - targets: ${JSON.stringify(options.targets)}`,
      '',
    ].join('\n'),
  )
  let lastError: unknown
  // A free port can be taken by someone else before Prometheus binds it; try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freeLoopbackPort()
    const url = `http://127.0.0.1:${port}`
    const { proc, output } = spawnPrometheus(dir, port)
    const exitOnParentExit = () => proc.kill('SIGKILL')
    process.once('exit', exitOnParentExit)
    let stopped = false
    const stop = async () => {
      if (stopped) return
      stopped = true
      await killProcess(proc)
      process.removeListener('exit', exitOnParentExit)
      rmSync(dir, { recursive: true, force: true })
    }
    try {
      await waitReady(proc, url, output)
    } catch (err) {
      lastError = err
      stopped = true
      await killProcess(proc)
      process.removeListener('exit', exitOnParentExit)
      continue
    }
    return {
      url,
      query: (expr) => query(url, expr),
      waitForTargetsUp: (timeoutMs = 30_000) => waitForTargetsUp(url, timeoutMs),
      stop,
    }
  }
  rmSync(dir, { recursive: true, force: true })
  throw new Error(`could not start ${PROMETHEUS_BIN}`, { cause: lastError })
}

function spawnPrometheus(dir: string, port: number): { proc: ChildProcess; output: string[] } {
  const args = [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ]
  const proc = spawn(PROMETHEUS_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  const output: string[] = []
  proc.stderr?.on('data', (chunk: Buffer) => {
    if (output.length < 50) output.push(chunk.toString())
  })
  // A missing binary is an 'error' event; waitReady then sees the process gone.
  proc.once('error', (err) => output.push(err.message))
  return { proc, output }
}

async function waitReady(proc: ChildProcess, url: string, output: string[]): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) break
    try {
      const res = await fetch(`${url}/-/ready`)
      if (res.status === 200) return
    } catch {
      // not listening yet
    }
    await sleep(100)
  }
  throw new Error(`prometheus at ${url} did not become ready: ${output.join('').trim()}`)
}

async function query(url: string, expr: string): Promise<readonly PromSeries[]> {
  const res = await fetch(`${url}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query: expr }).toString(),
  })
  const body = (await res.json()) as {
    status: string
    error?: string
    data?: { resultType: string; result: unknown }
  }
  if (body.status !== 'success' || body.data === undefined) {
    throw new Error(`query failed (${res.status}): ${body.error ?? 'no data'}: ${expr}`)
  }
  const { resultType, result } = body.data
  if (resultType === 'scalar') {
    return [{ metric: {}, value: result as [number, string] }]
  }
  if (resultType !== 'vector') throw new Error(`unexpected result type ${resultType}: ${expr}`)
  return result as PromSeries[]
}

async function waitForTargetsUp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < deadline) {
    const res = await fetch(`${url}/api/v1/targets?state=active`)
    const body = (await res.json()) as {
      data: { activeTargets: { health: string; lastError: string }[] }
    }
    const targets = body.data.activeTargets
    last = JSON.stringify(targets.map((t) => [t.health, t.lastError]))
    if (targets.length > 0 && targets.every((t) => t.health === 'up')) return
    await sleep(200)
  }
  throw new Error(`prometheus targets not up within ${timeoutMs} ms: ${last}`)
}

function killProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`prometheus (pid ${proc.pid}) did not exit after SIGKILL`))
    }, STOP_TIMEOUT_MS)
    proc.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    proc.kill('SIGKILL')
  })
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close((err) => (err ? reject(err) : resolve(port)))
    })
  })
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
