// CPU time and resident memory of a process, from /proc (Linux). Undefined elsewhere.
import { readFileSync } from 'node:fs'

// Kernel clock ticks per second for /proc/<pid>/stat times; 100 on every mainstream Linux.
const CLOCK_TICKS = 100

// User + system CPU seconds used so far.
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
  } catch {
    return undefined
  }
}

export function rssMegabytes(pid: number): number | undefined {
  return statusMegabytes(pid, 'VmRSS')
}

/**
 * The lowest RSS over `seconds` of no traffic, read every half second: what the process holds
 * once V8's memory reducer has given back the start-up's heap growth (it runs 15–20 s after the
 * allocation stops).
 */
export async function idleRssMegabytes(pid: number, seconds: number): Promise<number | undefined> {
  let lowest = rssMegabytes(pid)
  const end = Date.now() + seconds * 1000
  while (Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 500))
    const now = rssMegabytes(pid)
    if (now !== undefined && (lowest === undefined || now < lowest)) lowest = now
  }
  return lowest
}

/** The most resident memory the process has had since it started (the kernel's high-water mark). */
export function peakRssMegabytes(pid: number): number | undefined {
  return statusMegabytes(pid, 'VmHWM')
}

function statusMegabytes(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1]
    return kb === undefined ? undefined : Number(kb) / 1024
  } catch {
    return undefined
  }
}
