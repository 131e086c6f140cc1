// `npm run bench:scale`: for each size, generate N VirtualServices (one host, two routes each,
// one file per tenant), then measure `portcullis validate` (time, peak RSS), `run` until
// /healthz/ready, idle RSS, requests/s to the last host (autocannon), and a one-VirtualService
// change: the file written → the change serving (polled), with the peak RSS meanwhile and the
// p99 of traffic sent to the last host during it (against the p99 of the req/s run).
//
//   npm run bench:scale -- [--sizes=1,1000,10000,100000] [--duration=5] [--layout=dir|file]
//     [--clusters=1] [--tls=0]
// Everything runs on loopback; every child is killed at the end. Runs from dist/ when built
// (`npm run build`), else from src/ through tsx (slower start, same figures otherwise).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { killAllChildren, startChild } from '../child.js'
import { runLoad } from '../load.js'
import { freePorts } from '../../test/e2e/harness/ports.js'
import { fileOf, tenantHost, virtualServiceDoc, writeScaleConfig } from './generate.js'
import { get, peakRssMb, pollUntil, resetPeak, rssMb, samplePeak, settledRssMb } from './measure.js'

interface Row {
  size: number
  validateMs?: number | undefined
  validatePeakMb?: number | undefined
  readyMs?: number | undefined
  idleMb?: number | undefined
  rps?: number | undefined
  changeMs?: number | undefined
  changePeakMb?: number | undefined
  p99Ms?: number | undefined
  changeP99Ms?: number | undefined
  note?: string
}

const arg = (name: string, fallback: string): string =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback

const sizes = arg('sizes', '1,1000,10000,100000').split(',').map(Number)
const seconds = Number(arg('duration', '5'))
const layout = arg('layout', 'dir') === 'file' ? 'file' : 'dir'
const clusters = Number(arg('clusters', '1'))
const tls = Number(arg('tls', '0'))
const DIST = existsSync(new URL('../../dist/main.js', import.meta.url))
const CLI = DIST ? ['dist/main.js'] : ['--import', 'tsx', 'src/main.ts']
// Generous bounds: a size that misses them is reported, not waited for.
const readyDeadlineMs = (n: number): number => 30_000 + n * 2

async function measure(size: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), `portcullis-scale-${size}-`))
  const row: Row = { size }
  try {
    const [gatewayPort, httpsPort, readinessPort, upstreamPort] = await freePorts(4)
    const opts = {
      virtualServices: size,
      clusters,
      tls,
      gatewayPort: gatewayPort!,
      httpsPort: httpsPort!,
      upstreamPort: upstreamPort!,
      readinessPort: readinessPort!,
    }
    writeScaleConfig(dir, opts, layout)
    const configPath = layout === 'dir' ? dir : join(dir, 'gateway.yaml')

    // validate: wall time and peak RSS of the whole command.
    const t0 = performance.now()
    const validate = startChild('validate', [process.execPath, ...CLI, 'validate', configPath])
    const v = await samplePeak(validate.proc.pid!, validate.exited)
    row.validateMs = performance.now() - t0
    row.validatePeakMb = v.peakMb
    if (v.value !== 0)
      row.note = `validate exited ${v.value}: ${validate.lines.slice(-3).join(' | ')}`

    const upstream = startChild(
      'upstream',
      [process.execPath, '--import', 'tsx', 'bench/upstream.ts'],
      {
        PORT: String(upstreamPort),
      },
    )
    await upstream.waitForLine(/^listening/, 20_000)

    const t1 = performance.now()
    const gw = startChild('gateway', [process.execPath, ...CLI, 'run', '-c', configPath])
    const pid = gw.proc.pid!
    const ready = await pollUntil(
      async () => (await get(`http://127.0.0.1:${readinessPort}/healthz/ready`)).status === 200,
      readyDeadlineMs(size),
      50,
    )
    if (ready === undefined) {
      row.note = `not ready within ${readyDeadlineMs(size)} ms: ${gw.lines.slice(-3).join(' | ')}`
      await gw.stop('SIGKILL', 5000)
      await upstream.stop('SIGKILL', 5000)
      return row
    }
    row.readyMs = performance.now() - t1
    row.idleMb = await settledRssMb(pid, 15_000)

    const last = size - 1
    const host = tenantHost(last)
    const url = `http://127.0.0.1:${gatewayPort}`
    const load = await runLoad({
      url: `${url}/`,
      seconds,
      connections: 10,
      headers: [`host: ${host}`],
    })
    row.rps = load.non2xx + load.errors > 0 ? -1 : load.requestsPerSecond
    row.p99Ms = load.latencyP99Ms

    // One VirtualService changes: its /api/ route sets x-tenant-version 1 instead of 0.
    const canReset = resetPeak(pid)
    const before = rssMb(pid) ?? 0
    const changeFile = join(dir, fileOf(last, layout))
    const serving = async (): Promise<boolean> =>
      (await get(`${url}/api/x`, { host })).headers['x-tenant-version'] === '1'
    // Traffic to the last host while the change is applied, at half the measured rate.
    const during = runLoad({
      url: `${url}/`,
      seconds,
      connections: 4,
      headers: [`host: ${host}`],
      ...(load.requestsPerSecond > 2 ? { rate: Math.floor(load.requestsPerSecond / 2) } : {}),
    })
    const tw = performance.now()
    if (layout === 'dir') writeFileSync(changeFile, virtualServiceDoc(last, clusters, 1))
    else {
      // One file: the whole config is written again, with only that VirtualService changed.
      const text = readFileSync(changeFile, 'utf8')
      const old = virtualServiceDoc(last, clusters, 0)
      const at = text.lastIndexOf(old)
      writeFileSync(changeFile, text.slice(0, at) + virtualServiceDoc(last, clusters, 1))
    }
    const changed = await samplePeak(pid, pollUntil(serving, 60_000))
    if (changed.value !== undefined) row.changeMs = performance.now() - tw
    else row.note = 'the change was not serving within 60 s'
    row.changePeakMb = canReset ? Math.max(changed.peakMb, peakRssMb(pid) ?? 0) : changed.peakMb
    if (row.changePeakMb < before) row.changePeakMb = before
    // No reply within the run (the loop busy with the reload throughout) prints as such, not 0.
    const duringLoad = await during
    row.changeP99Ms = duringLoad.requests === 0 ? -2 : duringLoad.latencyP99Ms

    await gw.stop('SIGTERM', 30_000)
    await upstream.stop('SIGTERM', 5000)
    return row
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const fmt = (n: number | undefined, digits = 0): string =>
  n === undefined ? '—' : n === -1 ? 'errors' : n === -2 ? 'no replies' : n.toFixed(digits)

async function main(): Promise<void> {
  process.stdout.write(
    `scale bench: layout ${layout}, ${clusters} cluster(s), ${tls} TLS host(s), load ${seconds} s, ` +
      `${DIST ? 'dist/' : 'src/ via tsx'}\n\n`,
  )
  const header = [
    'VirtualServices',
    'validate ms',
    'validate peak MB',
    'ready ms',
    'idle RSS MB',
    'req/s last host',
    'change ms',
    'change peak MB',
    'p99 ms req/s run / during change',
  ]
  process.stdout.write(`| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|\n`)
  for (const size of sizes) {
    const r = await measure(size)
    const cells = [
      String(r.size),
      fmt(r.validateMs),
      fmt(r.validatePeakMb),
      fmt(r.readyMs),
      fmt(r.idleMb),
      fmt(r.rps),
      fmt(r.changeMs),
      fmt(r.changePeakMb),
      `${fmt(r.p99Ms)} / ${fmt(r.changeP99Ms)}`,
    ]
    process.stdout.write(`| ${cells.join(' | ')} |${r.note !== undefined ? `  ${r.note}` : ''}\n`)
  }
}

main().then(
  () => {
    killAllChildren()
    process.exit(0)
  },
  (e: unknown) => {
    console.error(e)
    killAllChildren()
    process.exit(1)
  },
)
