// Process measurements for the scale benchmark: wall time, peak and settled RSS (Linux /proc),
// and polling an HTTP condition with a deadline.
import { readFileSync, writeFileSync } from 'node:fs'
import { request } from 'undici'

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(
      readFileSync(`/proc/${pid}/status`, 'utf8'),
    )
    return m?.[1] === undefined ? undefined : Number(m[1])
  } catch {
    return undefined
  }
}

export const rssMb = (pid: number): number | undefined => mb(statusKb(pid, 'VmRSS'))
export const peakRssMb = (pid: number): number | undefined => mb(statusKb(pid, 'VmHWM'))
const mb = (kb: number | undefined): number | undefined =>
  kb === undefined ? undefined : kb / 1024

/** Resets the kernel's peak-RSS mark (VmHWM) of our own child, so the next peak is a new one. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

/** Samples the peak RSS of a process until `done` settles (the last sample before it exits). */
export async function samplePeak<T>(
  pid: number,
  done: Promise<T>,
): Promise<{ value: T; peakMb: number }> {
  let peak = 0
  const timer = setInterval(() => {
    peak = Math.max(peak, peakRssMb(pid) ?? 0, rssMb(pid) ?? 0)
  }, 20)
  try {
    return { value: await done, peakMb: peak }
  } finally {
    clearInterval(timer)
  }
}

/** RSS once it stops moving: two samples 500 ms apart within 1 %, or whatever it is at the deadline. */
export async function settledRssMb(pid: number, deadlineMs: number): Promise<number | undefined> {
  const end = Date.now() + deadlineMs
  let last = rssMb(pid)
  while (Date.now() < end) {
    await sleep(500)
    const now = rssMb(pid)
    if (now === undefined || last === undefined) return now
    if (Math.abs(now - last) <= last * 0.01) return now
    last = now
  }
  return last
}

/** Polls until `check` is true; the elapsed ms, or undefined at the deadline. */
export async function pollUntil(
  check: () => Promise<boolean>,
  deadlineMs: number,
  everyMs = 10,
): Promise<number | undefined> {
  const start = performance.now()
  while (performance.now() - start < deadlineMs) {
    if (await check().catch(() => false)) return performance.now() - start
    await sleep(everyMs)
  }
  return undefined
}

export async function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  const res = await request(url, { headers, headersTimeout: 2000, bodyTimeout: 2000 })
  await res.body.dump()
  return { status: res.statusCode, headers: res.headers }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
