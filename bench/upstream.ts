// The benchmark's upstream: node:http, keep-alive, a fixed ~100-byte JSON body for every request,
// or a 16 KiB one for GET /16k (the large-body scenario). Env: PORT (default 0). Prints
// `listening <port>`.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

const BODY_BYTES = 100
const shape = { service: 'bench-upstream', ok: true, pad: '' }
shape.pad = 'x'.repeat(BODY_BYTES - JSON.stringify(shape).length - 1)
const body = Buffer.from(JSON.stringify(shape) + '\n')
const headers = { 'content-type': 'application/json', 'content-length': body.length }
const LARGE_BYTES = 16 * 1024
const large = Buffer.from(JSON.stringify({ ...shape, pad: 'y'.repeat(LARGE_BYTES - 60) }))
const largeBody = Buffer.concat([
  large,
  Buffer.from(' '.repeat(LARGE_BYTES - large.length - 1) + '\n'),
])
const largeHeaders = { 'content-type': 'application/json', 'content-length': largeBody.length }

const server = createServer((req, res) => {
  // Drain any request body before answering, so keep-alive stays usable.
  req.resume()
  const isLarge = req.url === '/16k'
  req.once('end', () =>
    isLarge
      ? res.writeHead(200, largeHeaders).end(largeBody)
      : res.writeHead(200, headers).end(body),
  )
})
server.keepAliveTimeout = 65_000
server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1', () => {
  console.log(`listening ${(server.address() as AddressInfo).port} (${body.length}-byte body)`)
})
