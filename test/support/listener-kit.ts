/**
 * Shared by the listener tests (not used at run time): a hand-written snapshot wrapped in a tiny
 * prepared type, a manager with a counting handler, and a raw-socket client that reports exactly
 * what came back on the wire and whether the server closed the connection.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { connect, createServer } from 'node:net'
import type { TestContext } from 'node:test'
import type * as ir from '../../src/ir/index.js'
import { listenerId } from '../../src/ir/index.js'
import { silentLogger } from '../../src/lib/index.js'
import type { RequestRecord } from '../../src/observe/events.js'
import { createListenerManager } from '../../src/dataplane/listeners/manager.js'
import type { ListenerManager } from '../../src/dataplane/listeners/types.js'

export interface FakePrepared {
  readonly snapshot: ir.Snapshot
  /** Echoed by the test handler so a test can tell which snapshot served a request. */
  readonly label: string
}

export const DEFAULT_LIMITS: ir.DownstreamLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  idleTimeoutMs: 60_000,
  maxHeaderBytes: 16 * 1024,
  maxHeaderCount: 100,
  maxUriBytes: 8192,
  maxRequestsPerConnection: 1000,
  headersWithUnderscores: 'REJECT',
  streamIdleTimeoutMs: 60_000,
  minRequestBodyRate: 240,
  minRequestBodyRateWindowMs: 10_000,
}

export interface SnapshotOptions {
  readonly label: string
  readonly ports: readonly number[]
  readonly limits?: Partial<ir.DownstreamLimits>
  readonly drainTimeoutMs?: number
  readonly serverHeader?: string
  readonly pathNormalization?: ir.GatewaySettings['pathNormalization']
}

export function fakePrepared(opts: SnapshotOptions): FakePrepared {
  const settings: ir.GatewaySettings = {
    bindAddress: '127.0.0.1',
    admin: { address: '127.0.0.1', port: 0 },
    readiness: { address: '127.0.0.1', port: 0 },
    metrics: { address: '127.0.0.1', port: 0 },
    accessLog: { disabled: true, path: '/dev/stdout', format: '', encoding: 'TEXT' },
    drainTimeoutMs: opts.drainTimeoutMs ?? 5000,
    downstream: { ...DEFAULT_LIMITS, ...opts.limits },
    pathNormalization: opts.pathNormalization ?? 'BASE',
    numTrustedProxies: 0,
    forwardClientCertDetails: 'SANITIZE_SET',
    serverHeader: opts.serverHeader,
    labels: {},
  }
  const listeners: ir.Listener[] = opts.ports.map((port) => ({
    id: listenerId('127.0.0.1', port),
    address: '127.0.0.1',
    port,
    transport: 'http',
    servers: [],
    chains: [],
  }))
  return { label: opts.label, snapshot: { hash: opts.label, settings, listeners, clusters: {} } }
}

export interface HandledRequest {
  readonly url: string
  readonly label: string
  readonly listener: ir.ListenerId
  readonly headers: IncomingHttpHeaders
  readonly rawHeaders: readonly string[]
}

export interface TestManager {
  readonly manager: ListenerManager<FakePrepared>
  /** Every request that reached the handler. */
  readonly handled: HandledRequest[]
  /** Every record the listener layer reported. */
  readonly records: RequestRecord[]
  /** Labels of the snapshots reported retired, in order. */
  readonly retired: string[]
  /** Prepare + activate in one step. */
  load(prepared: FakePrepared): Promise<void>
}

/** Custom answers by exact path. */
export type TestRoutes = Readonly<Record<string, (res: ServerResponse) => void>>

/**
 * The handler answers 200 with `<label> <listener id>`; `/hold` answers after 300 ms, `/hang`
 * never answers, paths in `routes` answer as they say. Every manager is drained when the test
 * ends.
 */
export function startTestManager(t: TestContext, routes: TestRoutes = {}): TestManager {
  const handled: HandledRequest[] = []
  const records: RequestRecord[] = []
  const retired: string[] = []
  const manager = createListenerManager<FakePrepared>({
    log: silentLogger,
    observer: { onRequestComplete: (r) => records.push(r) },
    onRetired: (prepared) => retired.push(prepared.label),
    handler: (req, res, prepared, listener) => {
      handled.push({
        url: req.url ?? '',
        label: prepared.label,
        listener: listener.id,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
      })
      req.resume()
      const reply = (): void => {
        const body = `${prepared.label} ${listener.id}`
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length })
        res.end(body)
      }
      const custom = routes[req.url ?? '']
      if (custom !== undefined) return custom(res)
      if (req.url === '/hang') return
      if (req.url === '/hold') setTimeout(reply, 300)
      else reply()
    },
  })
  t.after(() => manager.drain(0))
  return {
    manager,
    handled,
    records,
    retired,
    async load(prepared) {
      manager.activate(await manager.prepare(prepared))
    },
  }
}

/** Ports the kernel just handed out on loopback (held together so they are distinct). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer())
  try {
    return await Promise.all(
      servers.map(
        (s) =>
          new Promise<number>((resolve, reject) => {
            s.once('error', reject)
            s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port))
          }),
      ),
    )
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  }
}

export interface ParsedResponse {
  readonly statusLine: string
  readonly status: number
  /** Lower-cased names. */
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/** A raw connection: write bytes, read responses one by one, observe the server's close. */
export interface RawClient {
  readonly socket: Socket
  write(data: string | Buffer): void
  /** The next complete response (Content-Length framed or headers-only), or fails at timeoutMs. */
  nextResponse(timeoutMs?: number): Promise<ParsedResponse>
  /** Resolves true once the server closed the connection, false after timeoutMs. */
  waitClosed(timeoutMs?: number): Promise<boolean>
  readonly closed: boolean
  /** Everything received and not yet returned by nextResponse. */
  readonly pending: string
}

export async function openRaw(port: number): Promise<RawClient> {
  const socket = connect(port, '127.0.0.1')
  socket.setEncoding('latin1')
  socket.on('error', () => undefined)
  let buffer = ''
  let closed = false
  let wake: () => void = () => undefined
  socket.on('data', (chunk: string) => {
    buffer += chunk
    wake()
  })
  socket.on('close', () => {
    closed = true
    wake()
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  const waitFor = async <T>(take: () => T | undefined, timeoutMs: number, what: string) => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const value = take()
      if (value !== undefined) return value
      const left = deadline - Date.now()
      if (left <= 0 || closed) {
        throw new Error(`${what}: none after ${timeoutMs} ms (closed=${closed}, got ${buffer})`)
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
  }
  return {
    socket,
    write: (data) => socket.write(data),
    nextResponse: (timeoutMs = 3000) =>
      waitFor(
        () => {
          const parsed = parseResponse(buffer)
          if (parsed === undefined) return undefined
          buffer = buffer.slice(parsed.length)
          return parsed.response
        },
        timeoutMs,
        'response',
      ),
    waitClosed: async (timeoutMs = 3000) => {
      try {
        return await waitFor(() => (closed ? true : undefined), timeoutMs, 'close')
      } catch {
        return closed
      }
    },
    get closed() {
      return closed
    },
    get pending() {
      return buffer
    },
  }
}

function parseResponse(buffer: string): { response: ParsedResponse; length: number } | undefined {
  const end = buffer.indexOf('\r\n\r\n')
  if (end < 0) return undefined
  const [statusLine = '', ...lines] = buffer.slice(0, end).split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  const status = Number(statusLine.split(' ')[1])
  const bodyLength = status < 200 ? 0 : Number(headers['content-length'] ?? '0')
  if (buffer.length < end + 4 + bodyLength) return undefined
  const body = buffer.slice(end + 4, end + 4 + bodyLength)
  return { response: { statusLine, status, headers, body }, length: end + 4 + bodyLength }
}

/** One request on a fresh connection; the connection stays open for the caller to inspect. */
export async function exchange(
  t: TestContext,
  port: number,
  data: string | Buffer,
): Promise<{ response: ParsedResponse; client: RawClient }> {
  const client = await openRaw(port)
  t.after(() => client.socket.destroy())
  client.write(data)
  return { response: await client.nextResponse(), client }
}

/** Resolves once `check` holds, polling every 10 ms; fails after timeoutMs. */
export async function eventually(check: () => boolean, timeoutMs = 3000): Promise<void> {
  for (let waited = 0; !check(); waited += 10) {
    if (waited >= timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** True when a TCP connect to the port is refused. */
export function isRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'))
  })
}
