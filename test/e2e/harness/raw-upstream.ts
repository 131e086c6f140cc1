import { createServer } from 'node:net'
import type { AddressInfo, Server, Socket } from 'node:net'
import {
  HEAD_END,
  contentLength,
  frameChunked,
  headerValues,
  isChunked,
  parseHeaderLines,
} from './framing.js'

// A request the raw upstream could frame: the exact bytes, plus the parts tests compare.
export interface RawRequest {
  connection: number
  method: string
  target: string
  version: string
  // Header lines in wire order, names as sent (not lower-cased).
  headers: Array<[string, string]>
  body: Buffer
  // Every byte of this request as it arrived, including the chunked framing.
  raw: Buffer
}

export interface RawConnection {
  id: number
  // Everything received on this connection, in order.
  readonly data: Buffer
  requests: RawRequest[]
  closed: boolean
  // Why framing stopped on this connection (it was answered 400 and closed).
  error?: string
}

export interface RawUpstream {
  host: string
  port: number
  url: string
  server: Server
  connections: RawConnection[]
  // All framed requests across connections, in arrival order.
  requests: RawRequest[]
  reset(): void
  close(): Promise<void>
}

export interface RawUpstreamOptions {
  // Bytes sent for every framed request instead of the minimal 200 reply.
  response?: string | Buffer
  // The reply to each framed request, built from it (wins over `response`); `index` counts the
  // requests on its connection.
  respond?: (req: RawRequest, index: number) => string | Buffer
}

const MAX_HEAD_BYTES = 64 * 1024
const MAX_REQUESTS_PER_READ = 1000
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) (HTTP\/\d\.\d)$/

type Framed = { request: Omit<RawRequest, 'connection'>; size: number }
type FrameResult = Framed | 'incomplete' | { error: string }

// Frames one HTTP/1.x request from the start of buf, refusing anything ambiguous.
export function frameRequest(buf: Buffer): FrameResult {
  const headEnd = buf.indexOf(HEAD_END)
  if (headEnd < 0) return buf.length > MAX_HEAD_BYTES ? { error: 'head too large' } : 'incomplete'
  const lines = buf.subarray(0, headEnd).toString('latin1').split('\r\n')
  const start = REQUEST_LINE.exec(lines[0] ?? '')
  if (!start) return { error: `bad request line ${JSON.stringify(lines[0])}` }
  const headers = parseHeaderLines(lines.slice(1))
  if ('error' in headers) return headers
  const bodyStart = headEnd + HEAD_END.length
  const request = { method: start[1]!, target: start[2]!, version: start[3]!, headers }
  const chunked = isChunked(headers)
  const length = contentLength(headers)
  if (typeof chunked === 'object') return chunked
  if (chunked && length !== undefined) {
    return { error: 'both transfer-encoding and content-length' }
  }
  if (chunked) {
    const body: Buffer[] = []
    const end = frameChunked(buf, bodyStart, body)
    if (typeof end !== 'number') return end
    return {
      request: { ...request, body: Buffer.concat(body), raw: buf.subarray(0, end) },
      size: end,
    }
  }
  if (typeof length === 'object') return length
  const end = bodyStart + (length ?? 0)
  if (buf.length < end) return 'incomplete'
  return {
    request: { ...request, body: buf.subarray(bodyStart, end), raw: buf.subarray(0, end) },
    size: end,
  }
}

function minimalReply(req: RawRequest, index: number): Buffer {
  const body = `raw ${req.connection}/${index}\n`
  const head =
    'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n' +
    `content-length: ${body.length}\r\nx-raw-request: ${req.connection}/${index}\r\n\r\n`
  return Buffer.from(req.method === 'HEAD' ? head : head + body)
}

function wantsClose(req: RawRequest): boolean {
  const connection = headerValues(req.headers, 'connection').join(',').toLowerCase()
  if (req.version === 'HTTP/1.0') return !connection.includes('keep-alive')
  return connection.includes('close')
}

// A TCP server that records the bytes of every connection and answers each request it can frame
// with a minimal 200. Used to check exactly what a proxy puts on the wire.
export async function startRawUpstream(opts: RawUpstreamOptions = {}): Promise<RawUpstream> {
  const connections: RawConnection[] = []
  const requests: RawRequest[] = []
  const sockets = new Set<Socket>()
  const canned = opts.response === undefined ? undefined : Buffer.from(opts.response)

  const server = createServer((socket) => {
    sockets.add(socket)
    const chunks: Buffer[] = []
    const conn: RawConnection = {
      id: connections.length,
      get data() {
        return Buffer.concat(chunks)
      },
      requests: [],
      closed: false,
    }
    connections.push(conn)
    let pending: Buffer = Buffer.alloc(0)
    let isDone = false
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      if (isDone) return
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
      for (let n = 0; n < MAX_REQUESTS_PER_READ && pending.length > 0; n++) {
        const framed = frameRequest(pending)
        if (framed === 'incomplete') return
        if ('error' in framed) {
          conn.error = framed.error
          isDone = true
          socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n')
          return
        }
        const req: RawRequest = { connection: conn.id, ...framed.request }
        pending = pending.subarray(framed.size)
        conn.requests.push(req)
        requests.push(req)
        const index = conn.requests.length - 1
        const reply = opts.respond?.(req, index) ?? canned ?? minimalReply(req, index)
        socket.write(reply)
        if (wantsClose(req)) {
          isDone = true
          socket.end()
          return
        }
      }
    })
    socket.on('error', () => socket.destroy())
    socket.on('close', () => {
      conn.closed = true
      sockets.delete(socket)
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo

  return {
    host: '127.0.0.1',
    port,
    url: `http://127.0.0.1:${port}`,
    server,
    connections,
    requests,
    reset() {
      connections.length = 0
      requests.length = 0
    },
    close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      for (const socket of sockets) socket.destroy()
      return closed
    },
  }
}
