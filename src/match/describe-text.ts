/** The text form of a RequestDescription: one labelled line per step, candidates indented. */
import type { RequestDescription } from './describe.js'

export function formatDescription(d: RequestDescription): string {
  const { input } = d
  const lines: string[] = []
  const sni = input.sni !== undefined ? ` sni ${input.sni}` : ''
  lines.push(
    `request      ${input.method.toUpperCase()} ${input.target} host ${input.authority}${sni} port ${input.port}`,
  )
  if (d.listener === undefined) return finish(lines, d)
  lines.push(`listener     ${d.listener}`)
  for (const c of d.chains) lines.push(candidate('tls server', c.name, c.selected, c.reason))
  for (const s of d.servers) lines.push(candidate('server', s.name, s.selected, s.reason))
  if (d.path !== undefined) {
    const raw = input.target.split('?', 1)[0] ?? ''
    const changed = d.path !== raw ? ` (normalized from ${raw})` : ''
    lines.push(`path         ${d.path}${changed} [${d.normalization}]`)
  }
  const routing = d.routing
  if (routing !== undefined) {
    lines.push(`route table  ${routing.table} host "${routing.host}"`)
    for (const vh of routing.virtualHosts) {
      lines.push(candidate('virtual host', vh.name, vh.selected, vh.reason))
      for (const r of vh.routes ?? []) {
        const name = r.name !== undefined ? ` "${r.name}"` : ''
        const head = `  route ${r.id}${name}`
        if (r.outcome === 'matched') {
          const hit = r.matches.find((m) => m.matched)
          lines.push(
            `  ${head}: matched${hit !== undefined ? ` by match[${hit.index}]` : ' (no match clauses)'}`,
          )
        } else if (r.outcome === 'not-reached') {
          lines.push(`  ${head}: not reached (an earlier route took the request)`)
        } else {
          lines.push(`  ${head}: not matched`)
          for (const m of r.matches) {
            const mName = m.name !== undefined ? ` "${m.name}"` : ''
            lines.push(`        match[${m.index}]${mName}: ${m.failures.join('; ')}`)
          }
        }
      }
    }
  }
  if (d.virtualService !== undefined) lines.push(`virtualservice ${d.virtualService}`)
  if (d.route !== undefined) lines.push(`route        ${d.route}`)
  for (const dest of d.destinations) {
    const subset = dest.subset !== undefined ? ` subset ${dest.subset}` : ''
    const endpoints =
      dest.endpoints === undefined
        ? 'cluster missing'
        : dest.endpoints.length === 0
          ? 'no endpoints'
          : `endpoints ${dest.endpoints.join(', ')}`
    lines.push(
      `destination  ${dest.host}${subset} port ${dest.port} weight ${dest.weight}: cluster ${dest.cluster}, ${endpoints}`,
    )
  }
  return finish(lines, d)
}

function candidate(label: string, name: string, selected: boolean, reason: string): string {
  return `${label.padEnd(12)} ${selected ? '+' : '-'} ${name}: ${reason}`
}

function finish(lines: string[], d: RequestDescription): string {
  lines.push(`result       ${d.summary}`)
  return lines.join('\n') + '\n'
}
