// Stands in for the gateway only in the harness's own tests (test/e2e/harness.test.ts), so the
// harness can be checked before and independently of the real process. It speaks just the
// process contract the harness relies on: `run -c <file>`, /healthz/ready, SIGHUP, SIGTERM.
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'

const args = process.argv.slice(2)
const configPath = args[args.indexOf('-c') + 1] ?? ''
const mode = process.env['STUB_MODE'] ?? 'normal'

if (mode === 'exit') {
  console.error('stub: refusing to start: boom')
  process.exit(3)
}

const port = Number(/readiness:\s*\n\s*port:\s*(\d+)/.exec(readFileSync(configPath, 'utf8'))?.[1])
let isReady = false
if (mode !== 'never-ready') setTimeout(() => (isReady = true), 200)

const server = createServer((req, res) => {
  res.statusCode = isReady && req.url === '/healthz/ready' ? 200 : 503
  res.end()
})
server.listen(port, '127.0.0.1', () => {
  console.log(`stub: readiness on ${port}`)
})
process.on('SIGHUP', () => {
  console.log(`stub: reloaded ${readFileSync(configPath, 'utf8').trim().split('\n').at(-1)}`)
})
process.on('SIGTERM', () => {
  console.error('stub: draining')
  server.close(() => process.exit(0))
})
