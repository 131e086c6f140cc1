/**
 * Durations as Istio writes them: Go/CEL syntax (`1h30m`, `1.5s`, `500ms`, `10us`) and the proto
 * JSON form (`180.000s`). Istio's CRDs reject anything below 1ms; callers decide the minimum.
 */
export type DurationResult =
  { readonly ok: true; readonly ms: number } | { readonly ok: false; readonly reason: string }

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
}

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y

export function parseDuration(text: string): DurationResult {
  const s = text.trim()
  if (s === '') return { ok: false, reason: 'empty duration' }
  if (s.startsWith('-')) return { ok: false, reason: 'duration must not be negative' }
  let pos = 0
  let total = 0
  PART.lastIndex = 0
  while (pos < s.length) {
    PART.lastIndex = pos
    const m = PART.exec(s)
    if (m === null) {
      return { ok: false, reason: `"${text}" is not a duration (expected e.g. 500ms, 1.5s, 1h30m)` }
    }
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0)
    pos = PART.lastIndex
  }
  return { ok: true, ms: Math.round(total * 1000) / 1000 }
}

/** Renders milliseconds back as the shortest Go-style duration (for docs and config dumps). */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`
  if (ms % 1000 === 0) return `${ms / 1000}s`
  return `${ms}ms`
}
