#!/usr/bin/env node
// The demo upstream behind `npm start`: answers every request with JSON saying which path and
// headers reached it, so the effect of routes, rewrites and header rules is visible.
// Listens on 127.0.0.1:9080 (PORT overrides). No dependencies.
import { createServer } from 'node:http'

const port = Number(process.env.PORT ?? 9080)

const server = createServer((req, res) => {
  req.resume()
  req.once('end', () => {
    const body =
      JSON.stringify({ service: 'demo-upstream', path: req.url, headers: req.headers }, null, 2) +
      '\n'
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    })
    res.end(body)
  })
})

server.on('error', (err) => {
  console.error(`demo-upstream: cannot listen on 127.0.0.1:${port}: ${err.message}`)
  process.exit(1)
})
server.listen(port, '127.0.0.1', () => {
  console.log(`demo-upstream listening on http://127.0.0.1:${port}`)
})

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    server.close(() => process.exit(0))
    server.closeAllConnections()
  })
}
