/**
 * A data plane with the real observers (access log written to a file, Prometheus text) built
 * from YAML, for tests that assert what an operator reads: log lines and metrics.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { connect as netConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { compile } from '../../src/compile/index.js'
import { loadConfigText } from '../../src/config/index.js'
import { createDataPlane } from '../../src/dataplane/index.js'
import { silentLogger } from '../../src/lib/index.js'
import { createObservers, type Observers } from '../../src/observe/index.js'

export interface RecordedGateway {
  readonly observers: Observers
  readonly logPath: string
  /** Every JSON access-log line written so far. */
  lines(): Promise<Record<string, unknown>[]>
  /** Polls (bounded) until `count` lines match, and returns them. */
  waitForLines(
    match: (line: Record<string, unknown>) => boolean,
    count?: number,
  ): Promise<Record<string, unknown>[]>
}

export interface RecordedGatewayOptions {
  readonly yaml: string
  /** Loopback DNS server addresses for egress names. */
  readonly dnsServers?: readonly string[]
  /** Access-log encoding; JSON (default) lets tests read fields by name. */
  readonly encoding?: 'JSON' | 'TEXT'
}

export async function startRecordedGateway(
  t: TestContext,
  opts: RecordedGatewayOptions,
): Promise<RecordedGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-records-'))
  const logPath = join(dir, 'access.log')
  const observers = createObservers({
    accessLog: { disabled: false, path: logPath, format: '', encoding: opts.encoding ?? 'JSON' },
    processMetrics: false,
  })
  const loaded = loadConfigText({ 'gateway.yaml': opts.yaml })
  assert.deepEqual(
    loaded.diagnostics.filter((d) => d.severity === 'error'),
    [],
  )
  const { snapshot } = compile(loaded.resources)
  const dp = createDataPlane({
    observer: observers.request,
    log: silentLogger,
    egress: observers.egress,
    ...(opts.dnsServers !== undefined ? { upstream: { dns: { servers: opts.dnsServers } } } : {}),
  })
  dp.activate(await dp.prepare(snapshot))
  t.after(async () => {
    await dp.drain(0)
    await observers.close()
    await rm(dir, { recursive: true, force: true })
  })
  const lines = async (): Promise<Record<string, unknown>[]> => {
    await observers.flush()
    const text = await readFile(logPath, 'utf8').catch(() => '')
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) =>
        opts.encoding === 'TEXT' ? { text: l } : (JSON.parse(l) as Record<string, unknown>),
      )
  }
  return {
    observers,
    logPath,
    lines,
    async waitForLines(match, count = 1) {
      const deadline = Date.now() + 10_000
      for (;;) {
        const found = (await lines()).filter(match)
        if (found.length >= count || Date.now() > deadline) return found
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    },
  }
}

/**
 * The sum of a Prometheus family's samples whose labels include all of `labels` (as PromQL's
 * `sum(name{...})`); undefined when none matches.
 */
export function metricValue(
  text: string,
  name: string,
  labels: readonly string[],
): number | undefined {
  let sum: number | undefined
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue
    const close = line.lastIndexOf('}')
    const set = line.slice(name.length + 1, close)
    if (labels.every((l) => set.includes(l))) sum = (sum ?? 0) + Number(line.slice(close + 1))
  }
  return sum
}

/** Connects, writes `send`, reads until the server closes; the raw socket's byte counts. */
export function tcpExchange(
  port: number,
  host: string,
  send: Buffer,
): Promise<{ received: Buffer; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = netConnect(port, host, () => socket.write(send))
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', reject)
    socket.on('close', () => resolve({ received: Buffer.concat(chunks), socket }))
    socket.setTimeout(10_000, () => socket.destroy(new Error('no close within 10 s')))
  })
}
