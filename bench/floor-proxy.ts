// The Node floor: the least a streaming reverse proxy on node:http + undici can do. Portcullis is
// measured against it. Env: UPSTREAM_PORT (required), PORT (default 0), TLS_CERT_FILE and
// TLS_KEY_FILE (serve HTTPS with node:https, for the HTTPS scenarios). Prints `listening <port>`.
import { readFileSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { Pool } from 'undici'
import type { Dispatcher } from 'undici'

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
])
const pool = new Pool(`http://127.0.0.1:${process.env['UPSTREAM_PORT'] ?? ''}`)

function endToEnd(headers: Record<string, string | string[] | undefined>) {
  const out: Record<string, string | string[]> = {}
  for (const name in headers) {
    const value = headers[name]
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value
  }
  return out
}

function onRequest(req: IncomingMessage, res: ServerResponse): void {
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding']
  const opts: Dispatcher.RequestOptions = {
    path: req.url ?? '/',
    method: req.method as Dispatcher.HttpMethod,
    headers: endToEnd(req.headers),
    body: hasBody ? req : null,
  }
  pool.stream(
    opts,
    ({ statusCode, headers }) => res.writeHead(statusCode, endToEnd(headers)),
    (err) => {
      if (!err) return
      if (res.headersSent) res.destroy()
      else res.writeHead(502).end()
    },
  )
}

const certFile = process.env['TLS_CERT_FILE']
const keyFile = process.env['TLS_KEY_FILE']
const server =
  certFile !== undefined && keyFile !== undefined
    ? createHttpsServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, onRequest)
    : createHttpServer(onRequest)
server.keepAliveTimeout = 65_000
server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1', () => {
  console.log(`listening ${(server.address() as AddressInfo).port}`)
})
