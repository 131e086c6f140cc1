/**
 * `portcullis suggest serviceentries (--admin URL | --access-log FILE)`: reads what a running
 * gateway saw leave (or be refused) without a ServiceEntry — from its admin API
 * (/egress/observed and /egress/denied) or from its access log (lines flagged EG, TEXT or JSON
 * encoding) — and prints ServiceEntry YAML for it on stdout.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { Diagnostic } from '../diag/index.js'
import type * as ir from '../ir/index.js'
import {
  formatAdditions,
  suggestServiceEntries,
  type ExistingEntry,
  type SeenDestination,
  type SeenProtocol,
} from './suggest-serviceentries.js'

export const SUGGEST_USAGE = `Usage: portcullis suggest serviceentries (--admin URL | --access-log FILE) [--config FILE]...

Prints ServiceEntry YAML for the egress destinations a gateway let through in audit mode
(outboundTrafficPolicy {mode: REGISTRY_ONLY, enforcement: audit}), passed through under
ALLOW_ANY, or refused. One ServiceEntry per host with the ports and protocols seen and
resolution DNS; wildcards are never guessed. A host an existing ServiceEntry registers gets
no second entry: its missing ports are printed on stderr as additions to that entry, with its
file:line (the entries come from --config, else from the gateway's /config_dump with --admin).
Review it, add it to the config, then enforce.

Options:
  --admin <url>          the gateway's admin API (e.g. http://127.0.0.1:15000)
  --access-log <file>    the gateway's access log (TEXT or JSON encoding)
  --config <file>        the configuration whose ServiceEntries exist (repeatable)
  -h, --help             show this help
`

export interface SuggestIo {
  readonly out: (s: string) => void
  readonly err: (s: string) => void
  /** Loads and compiles --config files; main wires this to runtime's buildSnapshot. */
  readonly build?: (
    paths: readonly string[],
  ) =>
    | { readonly ok: true; readonly snapshot: ir.Snapshot }
    | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] }
}

function existingEntries(snapshot: Pick<ir.Snapshot, 'egress'> | undefined): ExistingEntry[] {
  return (snapshot?.egress?.services ?? []).map((s) => ({
    name: s.name,
    hosts: s.hosts,
    ports: s.ports.map((p) => p.number),
    where: `${s.source.file}:${s.source.line}`,
  }))
}

async function existingFromAdmin(base: string): Promise<ExistingEntry[]> {
  const res = await fetch(new URL('/config_dump', base))
  if (!res.ok) throw new Error(`GET /config_dump: HTTP ${res.status}`)
  const body = (await res.json()) as { snapshot?: Pick<ir.Snapshot, 'egress'> }
  return existingEntries(body.snapshot)
}

const TLS_PORTS = new Set([443, 8443, 9443, 6443])
const EGRESS_DETAILS = /^egress_(audited|denied):([a-z_]+)$/

function protocolFor(method: string, port: number, sni: string | undefined): SeenProtocol {
  if (sni !== undefined && sni !== '' && sni !== '-') return 'TLS'
  if (method !== 'CONNECT') return 'HTTP'
  return TLS_PORTS.has(port) ? 'TLS' : 'TCP'
}

function splitAuthority(
  authority: string,
  defaultPort: number,
): { host: string; port: number } | undefined {
  const m = /^(\[[^\]]+\]|[^:]+)(?::([0-9]{1,5}))?$/.exec(authority)
  if (m === null) return undefined
  return { host: m[1]!, port: m[2] !== undefined ? Number(m[2]) : defaultPort }
}

interface LogFields {
  readonly method: string
  readonly details: string
  readonly authority: string
  readonly sni: string | undefined
}

/** The fields Istio's default TEXT format puts where, by position of its quoted strings. */
function textFields(line: string): LogFields | undefined {
  const quoted = [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)]
  const request = quoted[0]
  const authority = quoted[5]
  if (request === undefined || authority === undefined) return undefined
  const afterRequest = line
    .slice(request.index + request[0].length)
    .trim()
    .split(/\s+/)
  const tail = line.slice(quoted[6]?.index ?? line.length).split(/\s+/)
  return {
    method: request[1]!.split(' ')[0] ?? '',
    details: afterRequest[2] ?? '',
    authority: authority[1]!,
    // ... %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%
    sni: tail.length >= 3 ? tail[tail.length - 2] : undefined,
  }
}

function jsonFields(line: string): LogFields | undefined {
  try {
    const o = JSON.parse(line) as Record<string, unknown>
    const str = (k: string) => (typeof o[k] === 'string' ? o[k] : '')
    return {
      method: str('method'),
      details: str('response_code_details'),
      authority: str('authority'),
      sni: str('requested_server_name'),
    }
  } catch {
    return undefined
  }
}

/** Access-log lines → the egress destinations they record as audited or denied. */
export function destinationsFromAccessLog(text: string): SeenDestination[] {
  const counts = new Map<string, SeenDestination>()
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '') continue
    const f = line.startsWith('{') ? jsonFields(line) : textFields(line)
    if (f === undefined) continue
    const m = EGRESS_DETAILS.exec(f.details)
    if (m === null) continue
    const sniName = f.sni !== undefined && f.sni !== '' && f.sni !== '-' ? f.sni : undefined
    const target = splitAuthority(
      sniName ?? f.authority,
      f.method === 'CONNECT' || sniName !== undefined ? 443 : 80,
    )
    if (target === undefined) continue
    const seen: SeenDestination = {
      host: target.host,
      port: target.port,
      protocol: protocolFor(f.method, target.port, f.sni),
      reason: m[2],
      count: 1,
    }
    const key = `${seen.host}:${seen.port}:${seen.protocol}`
    const had = counts.get(key)
    counts.set(key, had === undefined ? seen : { ...had, count: had.count + 1 })
  }
  return [...counts.values()]
}

interface AdminObservation {
  readonly host: string
  readonly port: number
  readonly protocol: SeenProtocol
  readonly reason?: string
  readonly count: number
}

async function destinationsFromAdmin(base: string): Promise<SeenDestination[]> {
  const all: SeenDestination[] = []
  for (const kind of ['observed', 'denied']) {
    const res = await fetch(new URL(`/egress/${kind}`, base))
    if (!res.ok) throw new Error(`GET /egress/${kind}: HTTP ${res.status}`)
    const body = (await res.json()) as { destinations?: AdminObservation[] }
    for (const o of body.destinations ?? []) {
      all.push({
        host: o.host,
        port: o.port,
        protocol: o.protocol,
        reason: o.reason,
        count: o.count,
      })
    }
  }
  return all
}

/** Returns the exit code: 0 printed, 1 the source could not be read, 2 usage error. */
export async function runSuggest(argv: readonly string[], io: SuggestIo): Promise<number> {
  const [what, ...rest] = argv
  let values
  try {
    values = parseArgs({
      args: [...rest],
      options: {
        admin: { type: 'string' },
        'access-log': { type: 'string' },
        config: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values
  } catch (e) {
    io.err(`portcullis suggest: ${(e as Error).message}\n\n${SUGGEST_USAGE}`)
    return 2
  }
  if (values.help === true || what === '-h' || what === '--help') {
    io.out(SUGGEST_USAGE)
    return 0
  }
  const sources = [values.admin, values['access-log']].filter((v) => v !== undefined)
  if (what !== 'serviceentries' || sources.length !== 1) {
    io.err(
      `portcullis suggest: ${what !== 'serviceentries' ? `unknown subject "${what ?? ''}"` : 'give exactly one of --admin or --access-log'}\n\n${SUGGEST_USAGE}`,
    )
    return 2
  }
  let seen: SeenDestination[]
  let existing: ExistingEntry[] = []
  try {
    seen =
      values.admin !== undefined
        ? await destinationsFromAdmin(values.admin)
        : destinationsFromAccessLog(readFileSync(values['access-log']!, 'utf8'))
    if (values.config !== undefined && io.build !== undefined) {
      const built = io.build(values.config)
      if (!built.ok) throw new Error('--config: the configuration is rejected (run validate)')
      existing = existingEntries(built.snapshot)
    } else if (values.admin !== undefined) {
      existing = await existingFromAdmin(values.admin)
    }
  } catch (e) {
    io.err(`portcullis suggest: ${(e as Error).message}\n`)
    return 1
  }
  const suggestion = suggestServiceEntries(seen, existing)
  if (suggestion.additions.length > 0) io.err(formatAdditions(suggestion.additions))
  for (const s of suggestion.skipped) {
    io.err(`# skipped ${s}: needs addresses or STATIC endpoints, not a host entry\n`)
  }
  if (suggestion.yaml === '') {
    if (suggestion.additions.length === 0) {
      io.err('# no egress destinations without a ServiceEntry were seen\n')
    }
    return 0
  }
  io.out(suggestion.yaml)
  return 0
}
