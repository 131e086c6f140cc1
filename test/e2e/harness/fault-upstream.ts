import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

// One request as the fault upstream saw it, recorded when its head arrived.
export interface FaultHit {
  server: string
  method: string
  path: string
  host: string
  attemptCount: string | undefined
  requestId: string | undefined
  // Filled in once the body has been read (0 until then, or when it never completes).
  bodyBytes: number
}

export interface FaultUpstream {
  name: string
  port: number
  hits: FaultHit[]
  // Requests whose Host (without port) is `host`.
  hitsFor(host: string): FaultHit[]
  readonly connections: number
  // The most connections that were open at the same time.
  readonly peakOpen: number
  close(): Promise<void>
}

export interface FaultUpstreamOptions {
  name: string
  // Every request gets this status (an endpoint that is always broken).
  alwaysStatus?: number
}

const MAX_SLEEP_MS = 30_000
const TRUNCATED_LENGTH = 100_000
const SENT_BEFORE_RESET = 1000

// Responses that break HTTP/1.1 framing, each as the upstream writes it.
export const MALFORMED = {
  garbage: 'GARBAGE\r\n\r\n',
  'status-line': 'HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n',
  'cl-te':
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'cl-list': 'HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello',
} as const

// A scriptable upstream for resilience tests. Behaviour by path:
//   /fail/<n>/<key>      503 for the first n requests with that key, then 200
//   /status/<code>       that status
//   /sleep/<ms>          200 after ms
//   /hang                never answers
//   /reset               reads the body, then destroys the connection before any response byte
//   /truncate-length     200 with content-length 100000, 1000 bytes, then a reset
//   /truncate-chunked    200 chunked, 1000 bytes, then a reset
//   /malformed/<kind>    raw bytes no HTTP/1.1 client may accept (MALFORMED), then a close
//   anything else        200 with the server's name as the body
export async function startFaultUpstream(opts: FaultUpstreamOptions): Promise<FaultUpstream> {
  const hits: FaultHit[] = []
  const failures = new Map<string, number>()
  const sockets = new Set<Socket>()
  let connections = 0
  let peakOpen = 0

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://upstream.invalid')
    const host = (req.headers.host ?? '').replace(/:\d+$/, '')
    const attempt = req.headers['x-envoy-attempt-count']
    const id = req.headers['x-request-id']
    const hit: FaultHit = {
      server: opts.name,
      method: req.method ?? '',
      path: url.pathname,
      host,
      attemptCount: typeof attempt === 'string' ? attempt : undefined,
      requestId: typeof id === 'string' ? id : undefined,
      bodyBytes: 0,
    }
    hits.push(hit)
    let bytes = 0
    req.on('data', (c: Buffer) => (bytes += c.length))
    req.on('end', () => {
      hit.bodyBytes = bytes
      respond(url.pathname, req, res)
    })
  }

  const respond = (path: string, req: IncomingMessage, res: ServerResponse): void => {
    const parts = path.split('/')
    if (opts.alwaysStatus !== undefined) {
      res.writeHead(opts.alwaysStatus, { 'x-upstream-name': opts.name }).end(opts.name)
      return
    }
    switch (parts[1]) {
      case 'fail': {
        const n = Number(parts[2])
        const key = parts[3] ?? ''
        const seen = failures.get(key) ?? 0
        failures.set(key, seen + 1)
        if (seen < n) res.writeHead(503).end('failing')
        else res.writeHead(200, { 'x-upstream-name': opts.name }).end(opts.name)
        return
      }
      case 'status':
        res.writeHead(Number(parts[2])).end()
        return
      case 'sleep': {
        const ms = Math.min(Number(parts[2]), MAX_SLEEP_MS)
        const timer = setTimeout(() => res.writeHead(200).end(opts.name), ms)
        res.on('close', () => clearTimeout(timer))
        return
      }
      case 'hang':
        return
      case 'reset':
        req.socket.destroy()
        return
      case 'malformed': {
        const bytes = MALFORMED[parts[2] as keyof typeof MALFORMED]
        if (bytes === undefined) res.writeHead(404).end()
        else req.socket.end(bytes)
        return
      }
      case 'truncate-length':
        res.writeHead(200, { 'content-length': String(TRUNCATED_LENGTH) })
        res.write(Buffer.alloc(SENT_BEFORE_RESET, 0x61))
        setTimeout(() => req.socket.destroy(), 50)
        return
      case 'truncate-chunked':
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.write(Buffer.alloc(SENT_BEFORE_RESET, 0x61))
        setTimeout(() => req.socket.destroy(), 50)
        return
      default:
        res.writeHead(200, { 'x-upstream-name': opts.name }).end(opts.name)
    }
  }

  const server: Server = createServer(handle)
  server.on('connection', (socket: Socket) => {
    connections++
    sockets.add(socket)
    peakOpen = Math.max(peakOpen, sockets.size)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    name: opts.name,
    port,
    hits,
    hitsFor: (host) => hits.filter((h) => h.host === host),
    get connections() {
      return connections
    },
    get peakOpen() {
      return peakOpen
    },
    close() {
      for (const s of sockets) s.destroy()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
