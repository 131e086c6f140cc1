// What the OTLP and Zipkin receivers hand tests: one exported span in one shape, whichever
// protocol carried it, plus the small node:http server both receivers share.
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface ReceivedSpan {
  traceId: string
  spanId: string
  /** Undefined for a root span. */
  parentId: string | undefined
  name: string
  /** 'SERVER', 'CLIENT', … */
  kind: string
  serviceName: string | undefined
  tags: Record<string, string>
  /** Epoch microseconds. */
  startMicros: number
  durationMicros: number
}

export interface SpanReceiver {
  readonly port: number
  readonly spans: ReceivedSpan[]
  /** Export requests received (accepted or refused). */
  readonly requests: number
  /** Waits until at least `n` spans arrived; rejects after timeoutMs with what it has. */
  waitForSpans(n: number, timeoutMs?: number): Promise<ReceivedSpan[]>
  close(): Promise<void>
}

export interface ReceiverOptions {
  /** The path exports must use (others get 404). */
  path: string
  /** Answer every export with this status instead of accepting it (a failing collector). */
  status?: number
  /** Turns one request body into spans; throws on a body the protocol does not allow. */
  decode(body: string, req: IncomingMessage): ReceivedSpan[]
}

export async function startSpanReceiver(opts: ReceiverOptions): Promise<SpanReceiver> {
  const spans: ReceivedSpan[] = []
  let requests = 0
  const waiters = new Set<() => void>()
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      requests++
      if (req.method !== 'POST' || req.url !== opts.path) {
        res.writeHead(404).end()
        return
      }
      if (opts.status !== undefined) {
        res.writeHead(opts.status).end()
        return
      }
      try {
        spans.push(...opts.decode(Buffer.concat(chunks).toString('utf8'), req))
      } catch (err) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err))
        return
      }
      res.writeHead(opts.path.includes('/v1/') ? 200 : 202, {
        'content-type': 'application/json',
      })
      res.end('{}')
      for (const w of waiters) w()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    port,
    spans,
    get requests() {
      return requests
    },
    waitForSpans(n, timeoutMs = 15_000) {
      if (spans.length >= n) return Promise.resolve(spans)
      return new Promise((resolve, reject) => {
        const check = () => {
          if (spans.length < n) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve(spans)
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`expected ${n} spans within ${timeoutMs} ms, got ${spans.length}`))
        }, timeoutMs)
        waiters.add(check)
      })
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A collector that accepts connections and requests and never answers one. */
export interface SilentCollector {
  readonly port: number
  /** The requests it received (and holds unanswered), in arrival order. */
  readonly held: readonly IncomingMessage[]
  /** Drops every held connection and stops listening. */
  close(): Promise<void>
}

export async function startSilentCollector(): Promise<SilentCollector> {
  const held: IncomingMessage[] = []
  const server = createServer((req) => held.push(req))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    held,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
