#!/usr/bin/env node
// `npm start`: runs the demo upstream on 127.0.0.1:9080 (where gateway.yaml routes), then
// `bin/portcullis run -c gateway.yaml` (extra arguments are appended). Ctrl-C drains the gateway
// (SIGTERM; press it again to kill it), SIGHUP reloads it, and when the gateway exits the upstream
// is stopped and this script exits with the gateway's status. Needs `npm run build` first.
import { spawn } from 'node:child_process'
import { constants } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const UPSTREAM_PORT = '9080'
const READY_TIMEOUT_MS = 5000

// Own process groups: a terminal Ctrl-C reaches only this script, which decides what each child
// gets, so the gateway sees one SIGTERM rather than a SIGINT from the terminal plus ours.
const upstream = spawn(process.execPath, [join(root, 'scripts', 'demo-upstream.mjs')], {
  cwd: root,
  env: { ...process.env, PORT: UPSTREAM_PORT },
  stdio: ['ignore', 'pipe', 'inherit'],
  detached: true,
})
let gateway

process.once('exit', () => {
  for (const child of [gateway, upstream]) {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
})

function exitCodeOf(code, signal) {
  if (code !== null) return code
  return 128 + (constants.signals[signal] ?? 0)
}

const upstreamReady = new Promise((resolve, reject) => {
  const timer = setTimeout(
    () => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)),
    READY_TIMEOUT_MS,
  )
  createInterface({ input: upstream.stdout }).on('line', (line) => {
    console.log(line)
    if (line.includes('listening')) {
      clearTimeout(timer)
      resolve()
    }
  })
  upstream.once('exit', (code) => {
    clearTimeout(timer)
    reject(new Error(`it exited with code ${code}`))
  })
})

try {
  await upstreamReady
} catch (err) {
  console.error(`start-demo: the demo upstream did not start: ${err.message}`)
  process.exit(1)
}

gateway = spawn(
  process.execPath,
  [join(root, 'bin', 'portcullis'), 'run', '-c', 'gateway.yaml', ...process.argv.slice(2)],
  { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], detached: true },
)

let interrupts = 0
process.on('SIGINT', () => {
  interrupts++
  gateway.kill(interrupts === 1 ? 'SIGTERM' : 'SIGKILL')
})
process.on('SIGTERM', () => gateway.kill('SIGTERM'))
process.on('SIGHUP', () => gateway.kill('SIGHUP'))

upstream.once('exit', (code) => {
  if (gateway.exitCode !== null || gateway.signalCode !== null) return
  console.error(`start-demo: the demo upstream exited (code ${code}); stopping the gateway`)
  gateway.kill('SIGTERM')
})

gateway.once('error', (err) => {
  console.error(`start-demo: could not run bin/portcullis: ${err.message}`)
  upstream.kill('SIGTERM')
  process.exit(1)
})
gateway.once('exit', (code, signal) => {
  const status = exitCodeOf(code, signal)
  if (upstream.exitCode !== null || upstream.signalCode !== null) process.exit(status)
  upstream.once('exit', () => process.exit(status))
  upstream.kill('SIGTERM')
  // The 'exit' hook kills it outright if it has not stopped by then.
  setTimeout(() => process.exit(status), 2000).unref()
})
