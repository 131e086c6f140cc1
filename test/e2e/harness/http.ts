import { spawn, spawnSync } from 'node:child_process'
import { connect } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import { request as undiciRequest } from 'undici'
import type { Dispatcher } from 'undici'
import { HEAD_END, contentLength, frameChunked, isChunked, parseHeaderLines } from './framing.js'
import type { HeaderList } from './framing.js'

export interface HttpResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  bytes: Buffer
  text: string
  // The body parsed as JSON, typed by the caller (no runtime check).
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  json<T = unknown>(): T
}

export interface RequestOptions {
  method?: string
  headers?: Record<string, string | string[]>
  body?: string | Uint8Array
  timeoutMs?: number
  // e.g. an undici Agent with keep-alive off, or one pinned to a connection count.
  dispatcher?: Dispatcher
}

// One request over undici; the body is read in full. Non-2xx statuses resolve, they do not throw.
export async function request(url: string, opts: RequestOptions = {}): Promise<HttpResponse> {
  const timeout = opts.timeoutMs ?? 10_000
  const res = await undiciRequest(url, {
    method: opts.method ?? 'GET',
    ...(opts.headers ? { headers: opts.headers } : {}),
    body: opts.body ?? null,
    headersTimeout: timeout,
    bodyTimeout: timeout,
    ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
  })
  const bytes = Buffer.from(await res.body.arrayBuffer())
  const text = bytes.toString('utf8')
  return {
    status: res.statusCode,
    headers: res.headers,
    bytes,
    text,
    json: () => JSON.parse(text) as never,
  }
}

export interface RawRequestOptions {
  // Give up waiting for the peer to close after this long (default 2000 ms).
  timeoutMs?: number
  // Stop once something arrived and nothing more came for this long (keep-alive replies).
  idleMs?: number
  host?: string
  // Half-close after writing (send FIN), as some smuggling probes need.
  endAfterWrite?: boolean
  // With an array of pieces: pause between writes, so each lands in its own segment.
  pieceDelayMs?: number
  // Speak TLS with these options (servername, ca, ...); the bytes are written once it is up.
  tls?: ConnectionOptions
}

export interface RawResponse {
  bytes: Buffer
  text: string
  // The peer closed (FIN or reset) before the timeout.
  isClosedByPeer: boolean
  isTimedOut: boolean
  error?: string
}

function isLoopback(host: string): boolean {
  return host === '::1' || host === 'localhost' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

// Writes exact bytes to a loopback port and collects everything that comes back until the peer
// closes, the connection goes idle (idleMs), or timeoutMs passes.
export function rawRequest(
  port: number,
  data: string | Uint8Array | Array<string | Uint8Array>,
  opts: RawRequestOptions = {},
): Promise<RawResponse> {
  const host = opts.host ?? '127.0.0.1'
  if (!isLoopback(host)) return Promise.reject(new Error(`rawRequest: ${host} is not loopback`))
  const pieces = Array.isArray(data) ? data : [data]
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let error: string | undefined
    let isTimedOut = false
    let isSettled = false
    let idleTimer: NodeJS.Timeout | undefined
    const socket = opts.tls ? tlsConnect({ ...opts.tls, host, port }) : connect({ host, port })
    const finish = (isClosedByPeer: boolean): void => {
      if (isSettled) return
      isSettled = true
      clearTimeout(overall)
      clearTimeout(idleTimer)
      socket.destroy()
      const bytes = Buffer.concat(chunks)
      const result: RawResponse = {
        bytes,
        text: bytes.toString('latin1'),
        isClosedByPeer,
        isTimedOut,
      }
      if (error !== undefined) result.error = error
      resolve(result)
    }
    const overall = setTimeout(() => {
      isTimedOut = true
      finish(false)
    }, opts.timeoutMs ?? 2000)
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      if (opts.idleMs !== undefined) {
        clearTimeout(idleTimer)
        idleTimer = setTimeout(() => finish(false), opts.idleMs)
      }
    })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message
    })
    socket.on('close', () => finish(true))
    socket.on(opts.tls ? 'secureConnect' : 'connect', () => {
      void (async () => {
        for (const [i, piece] of pieces.entries()) {
          if (isSettled) return
          if (i > 0 && opts.pieceDelayMs) await new Promise((r) => setTimeout(r, opts.pieceDelayMs))
          socket.write(piece)
        }
        if (opts.endAfterWrite && !isSettled) socket.end()
      })()
    })
  })
}

export interface ParsedResponse {
  version: string
  status: number
  reason: string
  headers: HeaderList
  body: Buffer
}

export interface ParsedResponses {
  responses: ParsedResponse[]
  // Bytes after the last complete response (a truncated or unparsable one).
  rest: Buffer
  error?: string
}

const STATUS_LINE = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/

// Splits a raw byte dump into the HTTP/1.x responses it holds, framing bodies by
// Content-Length or chunked encoding. `isHeadResponse` marks replies to HEAD (no body).
export function parseResponses(
  data: string | Buffer,
  opts: { isHeadResponse?: boolean } = {},
): ParsedResponses {
  const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data
  const responses: ParsedResponse[] = []
  let pos = 0
  const done = (error?: string): ParsedResponses =>
    error === undefined
      ? { responses, rest: buf.subarray(pos) }
      : { responses, rest: buf.subarray(pos), error }
  // Each response consumes at least its head, so there are fewer than buf.length of them.
  for (let n = 0; n < buf.length && pos < buf.length; n++) {
    const headEnd = buf.indexOf(HEAD_END, pos)
    if (headEnd < 0) return done()
    const lines = buf.subarray(pos, headEnd).toString('latin1').split('\r\n')
    const start = STATUS_LINE.exec(lines[0] ?? '')
    if (!start) return done(`bad status line ${JSON.stringify(lines[0])}`)
    const headers = parseHeaderLines(lines.slice(1))
    if ('error' in headers) return done(headers.error)
    const status = Number(start[2])
    const head = { version: start[1]!, status, reason: start[3] ?? '', headers }
    const bodyStart = headEnd + HEAD_END.length
    const chunked = isChunked(headers)
    const length = contentLength(headers)
    if (typeof chunked === 'object') return done(chunked.error)
    let end: number
    let body: Buffer
    if (status < 200 || status === 204 || status === 304 || opts.isHeadResponse) {
      end = bodyStart
      body = Buffer.alloc(0)
    } else if (chunked) {
      const pieces: Buffer[] = []
      const framed = frameChunked(buf, bodyStart, pieces)
      if (framed === 'incomplete') return done()
      if (typeof framed === 'object') return done(framed.error)
      end = framed
      body = Buffer.concat(pieces)
    } else if (typeof length === 'object') {
      return done(length.error)
    } else if (length !== undefined) {
      end = bodyStart + length
      if (buf.length < end) return done()
      body = buf.subarray(bodyStart, end)
    } else {
      // No framing: the body runs to the end of the connection.
      end = buf.length
      body = buf.subarray(bodyStart)
    }
    responses.push({ ...head, body })
    pos = end
  }
  return done()
}

// Status codes of the complete responses in a raw byte dump, in order.
export function statusCodes(data: string | Buffer): number[] {
  return parseResponses(data).responses.map((r) => r.status)
}

let curlAvailable: boolean | undefined

export function hasCurl(): boolean {
  curlAvailable ??= spawnSync('curl', ['--version'], { stdio: 'ignore' }).status === 0
  return curlAvailable
}

export interface CurlResult {
  code: number | null
  stdout: string
  stderr: string
}

// Runs curl with the given arguments (add -s, -i, --http1.1 etc. as needed).
export function curl(args: string[], opts: { timeoutMs?: number } = {}): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 10_000,
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => err.push(c))
    child.on('error', reject)
    child.on('close', (code) =>
      resolve({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    )
  })
}
