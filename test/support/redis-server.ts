/**
 * A real `redis-server` for tests: its own process on a free loopback port, no persistence, a
 * scratch directory. Fault tests kill it (SIGKILL), pause it (SIGSTOP) and start it again on the
 * same port. Every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const REDIS_SERVER_BIN = process.env['REDIS_SERVER_BIN'] ?? '/usr/bin/redis-server'
const START_TIMEOUT_MS = 5000
const STOP_TIMEOUT_MS = 5000

export interface RedisServer {
  readonly port: number
  /** `redis://127.0.0.1:<port>/0` */
  readonly url: string
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

/** Starts redis-server on a free 127.0.0.1 port and waits until it answers PING. */
export async function startRedisServer(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-redis-'))
  let lastError: unknown
  // A free port can be taken by someone else before redis binds it; try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freeLoopbackPort()
    try {
      let proc = await spawnRedis(port, dir)
      const exitOnParentExit = () => proc.kill('SIGKILL')
      process.once('exit', exitOnParentExit)
      let stopped = false
      const server: RedisServer = {
        port,
        url: `redis://127.0.0.1:${port}/0`,
        kill: (signal = 'SIGKILL') => killProcess(proc, signal),
        pause: () => void proc.kill('SIGSTOP'),
        resume: () => void proc.kill('SIGCONT'),
        async restart() {
          await killProcess(proc, 'SIGKILL')
          proc = await spawnRedis(port, dir)
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

async function spawnRedis(port: number, dir: string): Promise<ChildProcess> {
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--daemonize',
    'no',
    '--logfile',
    '',
    '--loglevel',
    'warning',
  ]
  const proc = spawn(REDIS_SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const collect = (chunk: Buffer) => {
    if (output.length < 4096) output += chunk.toString()
  }
  proc.stdout?.on('data', collect)
  proc.stderr?.on('data', collect)
  const deadline = Date.now() + START_TIMEOUT_MS
  while (Date.now() < deadline) {
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
export function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    let reply = ''
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(200, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString()
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'))
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
