/**
 * A real `redis-server` for tests: its own process on a free loopback port, no persistence, a
 * scratch directory. Fault tests kill it (SIGKILL), pause it (SIGSTOP) and start it again on the
 * same port. Also a small Redis Cluster (`redis-cli --cluster create`) and Sentinels. Every wait
 * is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const REDIS_SERVER_BIN = process.env['REDIS_SERVER_BIN'] ?? '/usr/bin/redis-server'
export const REDIS_CLI_BIN = process.env['REDIS_CLI_BIN'] ?? '/usr/bin/redis-cli'
const START_TIMEOUT_MS = 5000
const STOP_TIMEOUT_MS = 5000
const CLUSTER_CREATE_TIMEOUT_MS = 20_000

export interface RedisServer {
  readonly port: number
  /** `redis://127.0.0.1:<port>/0` */
  readonly url: string
  /** The process id of the server running now (benchmarks read its CPU time). */
  readonly pid: number | undefined
  /** Kills the process (default SIGKILL) and waits until it has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>
  /** Freezes the process: connections stay open, nothing answers. */
  pause(): void
  resume(): void
  /** Starts a fresh, empty server on the same port (after kill). */
  restart(): Promise<void>
  /** Kills the server and removes its directory. Safe to call more than once. */
  stop(): Promise<void>
}

export interface RedisServerOptions {
  /** Extra redis-server arguments, after the defaults. */
  readonly args?: readonly string[]
  /** Runs a Sentinel with this configuration (written to a file in the server's directory). */
  readonly sentinelConfig?: string
}

/** Starts redis-server on a free 127.0.0.1 port and waits until it answers PING. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-redis-'))
  let lastError: unknown
  // A free port can be taken by someone else before redis binds it; try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freeLoopbackPort()
    try {
      let proc = await spawnRedis(port, dir, options)
      const exitOnParentExit = () => proc.kill('SIGKILL')
      process.once('exit', exitOnParentExit)
      let stopped = false
      const server: RedisServer = {
        port,
        url: `redis://127.0.0.1:${port}/0`,
        get pid() {
          return proc.pid
        },
        kill: (signal = 'SIGKILL') => killProcess(proc, signal),
        pause: () => void proc.kill('SIGSTOP'),
        resume: () => void proc.kill('SIGCONT'),
        async restart() {
          await killProcess(proc, 'SIGKILL')
          proc = await spawnRedis(port, dir, options)
        },
        async stop() {
          if (stopped) return
          stopped = true
          proc.kill('SIGCONT')
          await killProcess(proc, 'SIGKILL')
          process.removeListener('exit', exitOnParentExit)
          rmSync(dir, { recursive: true, force: true })
        },
      }
      return server
    } catch (err) {
      lastError = err
    }
  }
  rmSync(dir, { recursive: true, force: true })
  throw new Error(`could not start ${REDIS_SERVER_BIN}`, { cause: lastError })
}

async function spawnRedis(
  port: number,
  dir: string,
  options: RedisServerOptions,
): Promise<ChildProcess> {
  const common = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir]
  const logging = ['--daemonize', 'no', '--logfile', '', '--loglevel', 'warning']
  let args: string[]
  if (options.sentinelConfig !== undefined) {
    const config = join(dir, 'sentinel.conf')
    writeFileSync(config, options.sentinelConfig)
    args = [config, '--sentinel', ...common, ...logging]
  } else {
    args = [...common, '--save', '', '--appendonly', 'no', ...logging, ...(options.args ?? [])]
  }
  const proc = spawn(REDIS_SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const collect = (chunk: Buffer) => {
    if (output.length < 4096) output += chunk.toString()
  }
  proc.stdout?.on('data', collect)
  proc.stderr?.on('data', collect)
  // A missing binary is an 'error' event, not an exit: turn it into this function's error.
  let spawnError: Error | undefined
  proc.once('error', (err) => (spawnError = err))
  const deadline = Date.now() + START_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (spawnError !== undefined) {
      throw new Error(`cannot run ${REDIS_SERVER_BIN}: ${spawnError.message}`, {
        cause: spawnError,
      })
    }
    if (proc.exitCode !== null || proc.signalCode !== null) break
    if (await answersPing(port)) return proc
    await sleep(20)
  }
  await killProcess(proc, 'SIGKILL')
  throw new Error(`redis-server on port ${port} did not start: ${output.trim()}`)
}

function killProcess(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`redis-server (pid ${proc.pid}) did not exit after ${signal}`))
    }, STOP_TIMEOUT_MS)
    proc.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    proc.kill(signal)
  })
}

/** One PING over a raw socket, answered within 200 ms. */
export async function answersPing(port: number): Promise<boolean> {
  return (await inlineCommand(port, 'PING')).startsWith('+PONG')
}

/**
 * One inline command over a raw socket; the first reply line (bulk replies: whatever arrived
 * within the wait), or '' when nothing answered within `timeoutMs`.
 */
export function inlineCommand(port: number, command: string, timeoutMs = 200): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    let reply = ''
    const done = () => {
      socket.destroy()
      resolve(reply)
    }
    socket.setTimeout(timeoutMs, done)
    socket.once('error', done)
    socket.once('connect', () => socket.write(`${command}\r\n`))
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString()
      const firstLine = reply.indexOf('\r\n')
      if (firstLine === -1) return
      const bulk = /^\$(\d+)/.exec(reply)
      if (bulk === null || reply.length >= firstLine + 2 + Number(bulk[1]) + 2) done()
    })
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

export interface RedisCluster {
  readonly nodes: readonly RedisServer[]
  stop(): Promise<void>
}

/**
 * A Redis Cluster of `size` masters (no replicas) on loopback, slots spread by `redis-cli
 * --cluster create`; resolves once every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(size = 3): Promise<RedisCluster> {
  const nodes: RedisServer[] = []
  const stop = () => Promise.all(nodes.map((n) => n.stop())).then(() => undefined)
  try {
    for (let i = 0; i < size; i++) {
      nodes.push(
        await startRedisServer({
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'],
        }),
      )
    }
    const create = spawn(
      REDIS_CLI_BIN,
      ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-yes'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let output = ''
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-2000)
    }
    create.stdout.on('data', collect)
    create.stderr.on('data', collect)
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => create.kill('SIGKILL'), CLUSTER_CREATE_TIMEOUT_MS)
      create.once('exit', (c) => {
        clearTimeout(timer)
        resolve(c)
      })
    })
    if (code !== 0) throw new Error(`redis-cli --cluster create failed (${code}): ${output}`)
    const deadline = Date.now() + START_TIMEOUT_MS
    for (const node of nodes) {
      while (!(await inlineCommand(node.port, 'CLUSTER INFO')).includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error('the cluster did not reach cluster_state:ok')
        await sleep(50)
      }
    }
    return { nodes, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
