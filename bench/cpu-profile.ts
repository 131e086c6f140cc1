// Reads a V8 .cpuprofile (written by node --cpu-prof) and ranks functions by self time, as a
// share of the time the process was busy.
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }
}

interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

export interface SelfTimeRow {
  functionName: string
  location: string
  selfMs: number
  percent: number
}

function locationOf(frame: ProfileNode['callFrame'], repoRoot: string): string {
  if (frame.url === '') return ''
  const file = frame.url.replace(`file://${repoRoot}`, '').replace(/^file:\/\//, '')
  // lineNumber is 0-based in the profile.
  return `${file}:${frame.lineNumber + 1}`
}

export function topSelfTime(path: string, repoRoot: string, limit = 20): SelfTimeRow[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfMicros = new Map<string, { functionName: string; location: string; micros: number }>()
  let totalMicros = 0
  for (const [i, id] of profile.samples.entries()) {
    const node = byId.get(id)
    const micros = profile.timeDeltas[i] ?? 0
    // Idle time only says how long the profile ran; the ranking is of busy time.
    if (!node || micros <= 0 || node.callFrame.functionName === '(idle)') continue
    totalMicros += micros
    const functionName = node.callFrame.functionName || '(anonymous)'
    const location = locationOf(node.callFrame, repoRoot)
    const key = `${functionName} ${location}`
    const row = selfMicros.get(key) ?? { functionName, location, micros: 0 }
    row.micros += micros
    selfMicros.set(key, row)
  }
  return [...selfMicros.values()]
    .sort((a, b) => b.micros - a.micros)
    .slice(0, limit)
    .map((r) => ({
      functionName: r.functionName,
      location: r.location,
      selfMs: r.micros / 1000,
      percent: totalMicros === 0 ? 0 : (100 * r.micros) / totalMicros,
    }))
}
