/**
 * Sums Prometheus text expositions from several workers into one, series by series, so a scrape
 * of a `workers: N` gateway counts every worker's requests. Counters, histograms and most gauges
 * (connections, requests in flight) add up; gauges that are a point in time or a version are
 * not sums, so they take the smallest value (the oldest config, the earliest start).
 */

const MIN_GAUGES = [
  /_timestamp_seconds$/,
  /^process_start_time_seconds$/,
  /^portcullis_config_version$/,
  // One build per process: every worker reports 1, and so does the sum.
  /^istio_build$/,
]

export function sumExpositions(texts: readonly string[]): string {
  const meta = new Map<string, string[]>() // family → its # HELP / # TYPE lines
  const types = new Map<string, string>()
  const series = new Map<string, { family: string; value: number }>()
  const order: string[] = []
  for (const text of texts) {
    for (const line of text.split('\n')) {
      if (line === '') continue
      if (line.startsWith('#')) {
        const [, kind, family, rest] = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line) ?? []
        if (kind === undefined || family === undefined) continue
        if (!meta.has(family)) {
          meta.set(family, [])
          order.push(family)
        }
        const lines = meta.get(family)!
        if (!lines.some((l) => l.startsWith(`# ${kind} `))) lines.push(line)
        if (kind === 'TYPE') types.set(family, rest ?? '')
        continue
      }
      const space = line.lastIndexOf(' ')
      const key = line.slice(0, space)
      const value = Number(line.slice(space + 1))
      const name = key.split('{', 1)[0]!
      const family = familyOf(name, meta)
      const seen = series.get(key)
      if (seen === undefined) series.set(key, { family, value })
      else seen.value = takesMin(family, types) ? Math.min(seen.value, value) : seen.value + value
    }
  }
  const byFamily = new Map<string, string[]>()
  for (const [key, s] of series) {
    const list = byFamily.get(s.family) ?? []
    list.push(`${key} ${s.value}`)
    byFamily.set(s.family, list)
  }
  const out: string[] = []
  for (const family of order) out.push(...(meta.get(family) ?? []), ...(byFamily.get(family) ?? []))
  for (const [family, lines] of byFamily) if (!meta.has(family)) out.push(...lines)
  return `${out.join('\n')}\n`
}

/** `x_bucket`, `x_sum`, `x_count` belong to family `x` when `x` was declared. */
function familyOf(name: string, meta: ReadonlyMap<string, unknown>): string {
  if (meta.has(name)) return name
  for (const suffix of ['_bucket', '_sum', '_count', '_total']) {
    if (name.endsWith(suffix) && meta.has(name.slice(0, -suffix.length))) {
      return name.slice(0, -suffix.length)
    }
  }
  return name
}

function takesMin(family: string, types: ReadonlyMap<string, string>): boolean {
  return types.get(family) === 'gauge' && MIN_GAUGES.some((re) => re.test(family))
}
