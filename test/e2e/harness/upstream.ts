import { createServer } from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export { startRawUpstream } from './raw-upstream.js'
export type { RawUpstream, RawConnection, RawRequest } from './raw-upstream.js'

// What the upstream saw, in the shape it echoes back to the client.
export interface RecordedRequest {
  name: string
  method: string
  url: string
  path: string
  query: Record<string, string | string[]>
  headers: IncomingHttpHeaders
  rawHeaders: string[]
  body?: string
  bodyLength: number
  httpVersion: string
  remotePort: number
}

export interface Upstream {
  name: string
  host: string
  port: number
  // Base URL, e.g. http://127.0.0.1:34567
  url: string
  server: Server
  // Every request that was fully received, in arrival order.
  requests: RecordedRequest[]
  // Connections accepted since start (or the last reset()).
  readonly connections: number
  // Connections open right now.
  readonly openConnections: number
  reset(): void
  close(): Promise<void>
}

export interface UpstreamOptions {
  // Echoed back as `name` and in the `x-upstream-name` response header, to tell endpoints apart.
  name?: string
  // Loopback address to bind (127.0.0.1 by default; any 127.x.y.z or ::1).
  host?: string
}

const MAX_DELAY_SECONDS = 30
const MAX_BYTES = 64 * 1024 * 1024
const MAX_STREAM_CHUNKS = 10_000
const STATUS_PATH = /^\/status\/(\d{3})$/
const DELAY_PATH = /^\/delay\/(\d+(?:\.\d+)?)$/
const BYTES_PATH = /^\/bytes\/(\d+)$/
const STREAM_PATH = /^\/stream\/(\d+)$/

function isLoopback(host: string): boolean {
  return host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

function parseQuery(search: URLSearchParams): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {}
  for (const [key, value] of search) {
    const seen = query[key]
    if (seen === undefined) query[key] = value
    else if (Array.isArray(seen)) seen.push(value)
    else query[key] = [seen, value]
  }
  return query
}

function record(name: string, req: IncomingMessage, body: Buffer): RecordedRequest {
  const url = req.url ?? '/'
  // The request target may be absolute-form (proxy requests); the base only fills in origin-form.
  const parsed = new URL(url, 'http://upstream.invalid')
  const recorded: RecordedRequest = {
    name,
    method: req.method ?? '',
    url,
    path: parsed.pathname,
    query: parseQuery(parsed.searchParams),
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    bodyLength: body.length,
    httpVersion: req.httpVersion,
    remotePort: req.socket.remotePort ?? 0,
  }
  if (body.length > 0) recorded.body = body.toString('utf8')
  return recorded
}

function sendJson(res: ServerResponse, status: number, name: string, value: unknown): void {
  const noBody = status === 204 || status === 304 || res.req.method === 'HEAD'
  const payload = Buffer.from(JSON.stringify(value))
  res.writeHead(status, {
    'content-type': 'application/json',
    'x-upstream-name': name,
    ...(noBody ? {} : { 'content-length': payload.length }),
  })
  res.end(noBody ? undefined : payload)
}

function sendBytes(res: ServerResponse, name: string, n: number): void {
  const payload = Buffer.allocUnsafe(n)
  // A fixed pattern, so a test can check that every byte arrived in order.
  for (let i = 0; i < n; i++) payload[i] = i % 256
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': n,
    'x-upstream-name': name,
  })
  res.end(payload)
}

function sendStream(res: ServerResponse, name: string, rec: RecordedRequest, n: number): void {
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'x-upstream-name': name })
  // Without a content-length each write becomes its own chunk on the wire.
  for (let id = 0; id < n; id++) res.write(JSON.stringify({ id, name, path: rec.path }) + '\n')
  res.end()
}

// An httpbin-like echo server on loopback. Any path echoes the request as JSON; a few paths
// (/status/<code>, /delay/<s>, /headers, /bytes/<n>, /stream/<n>) behave like httpbin's.
export async function startUpstream(opts: UpstreamOptions = {}): Promise<Upstream> {
  const name = opts.name ?? 'upstream'
  const host = opts.host ?? '127.0.0.1'
  if (!isLoopback(host)) throw new Error(`startUpstream: ${host} is not a loopback address`)

  const requests: RecordedRequest[] = []
  const sockets = new Set<Socket>()
  const timers = new Set<NodeJS.Timeout>()
  let connections = 0

  const respond = (res: ServerResponse, rec: RecordedRequest): void => {
    const path = rec.path
    let m: RegExpExecArray | null
    if ((m = STATUS_PATH.exec(path))) {
      const code = Number(m[1])
      if (code < 200 || code > 599) sendJson(res, 400, name, { error: `bad status ${code}` })
      else sendJson(res, code, name, rec)
    } else if ((m = DELAY_PATH.exec(path))) {
      const seconds = Math.min(Number(m[1]), MAX_DELAY_SECONDS)
      const timer = setTimeout(() => {
        timers.delete(timer)
        if (!res.destroyed) sendJson(res, 200, name, rec)
      }, seconds * 1000)
      timers.add(timer)
      res.once('close', () => {
        clearTimeout(timer)
        timers.delete(timer)
      })
    } else if (path === '/headers') {
      sendJson(res, 200, name, { headers: rec.headers })
    } else if ((m = BYTES_PATH.exec(path))) {
      const n = Number(m[1])
      if (n > MAX_BYTES) sendJson(res, 400, name, { error: `at most ${MAX_BYTES} bytes` })
      else sendBytes(res, name, n)
    } else if ((m = STREAM_PATH.exec(path))) {
      sendStream(res, name, rec, Math.min(Number(m[1]), MAX_STREAM_CHUNKS))
    } else {
      sendJson(res, 200, name, rec)
    }
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const rec = record(name, req, Buffer.concat(chunks))
      requests.push(rec)
      respond(res, rec)
    })
    req.on('error', () => res.destroy())
  })
  server.on('connection', (socket: Socket) => {
    connections++
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const urlHost = host.includes(':') ? `[${host}]` : host

  return {
    name,
    host,
    port,
    url: `http://${urlHost}:${port}`,
    server,
    requests,
    get connections() {
      return connections
    },
    get openConnections() {
      return sockets.size
    },
    reset() {
      requests.length = 0
      connections = 0
    },
    async close() {
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      const socketsClosed = [...sockets].map((s) => new Promise((r) => s.once('close', r)))
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      for (const socket of sockets) socket.destroy()
      await Promise.all([closed, ...socketsClosed])
    },
  }
}
