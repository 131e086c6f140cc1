/**
 * `portcullis describe -c PATH [URL] [options]`: which listener, server, VirtualService, route
 * and destination a request would reach under a config, and why each earlier candidate did not
 * take it. The config is loaded and compiled as `run` does; nothing is bound or sent.
 */
import { parseArgs } from 'node:util'
import { formatDiagnosticsText, type Diagnostic } from '../diag/index.js'
import type * as ir from '../ir/index.js'
import { describeRequest, formatDescription, parseDescribeInput } from '../match/index.js'

export const DESCRIBE_USAGE = `Usage: portcullis describe [-c PATH]... [URL] [options]

Prints which listener, Gateway server, VirtualService, route and destination (cluster,
subset, port, endpoints) would serve a request, and why each earlier candidate did not
match, after the same path normalization and Host handling the gateway applies.

  portcullis describe -c gateway.yaml http://reviews:9080/api/v1/products
  portcullis describe -c gateway.yaml --port 8080 -H 'Host: reviews:9080' --path /x

Options:
  -c, --config <path>    config file or directory (repeatable; default gateway.yaml)
  -X, --method <method>  request method (default GET)
  --host <authority>     Host/:authority as sent, port included when sent
  --path <target>        path and query as sent
  -H, --header <line>    'name: value' (repeatable; 'Host: ...' sets the authority)
  --port <port>          gateway port the client connects to (default: the URL's port, 80/443)
  --sni <name>           TLS server name (default: the host of an https URL)
  --source-ip <ip>       client address (shown; routing does not read it)
  --format <format>      text | json (default text)
  -h, --help             show this help
`

export interface DescribeIo {
  readonly out: (s: string) => void
  readonly err: (s: string) => void
  /** Loads and compiles; main wires this to runtime's buildSnapshot. */
  readonly build: (
    paths: readonly string[],
  ) =>
    | { readonly ok: true; readonly snapshot: ir.Snapshot }
    | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] }
}

/** Exit 0 with an answer, 1 when the config is rejected, 2 on a usage error. */
export function runDescribe(argv: readonly string[], io: DescribeIo): number {
  let values
  let positionals
  try {
    ;({ values, positionals } = parseArgs({
      args: [...argv],
      options: {
        help: { type: 'boolean', short: 'h' },
        config: { type: 'string', short: 'c', multiple: true },
        method: { type: 'string', short: 'X' },
        host: { type: 'string' },
        path: { type: 'string' },
        header: { type: 'string', short: 'H', multiple: true },
        port: { type: 'string' },
        sni: { type: 'string' },
        'source-ip': { type: 'string' },
        format: { type: 'string', default: 'text' },
      },
      allowPositionals: true,
      strict: true,
    }))
  } catch (e) {
    return usage(io, e instanceof Error ? e.message : String(e))
  }
  if (values.help === true) {
    io.out(DESCRIBE_USAGE)
    return 0
  }
  if (positionals.length > 1) return usage(io, `unexpected argument "${positionals[1]}"`)
  if (values.format !== 'text' && values.format !== 'json') {
    return usage(io, `--format must be text or json, not "${values.format}"`)
  }
  const input = parseDescribeInput({
    ...(positionals[0] !== undefined ? { url: positionals[0] } : {}),
    ...(values.method !== undefined ? { method: values.method } : {}),
    ...(values.host !== undefined ? { host: values.host } : {}),
    ...(values.path !== undefined ? { path: values.path } : {}),
    ...(values.header !== undefined ? { headers: values.header } : {}),
    ...(values.port !== undefined ? { port: values.port } : {}),
    ...(values.sni !== undefined ? { sni: values.sni } : {}),
    ...(values['source-ip'] !== undefined ? { sourceIp: values['source-ip'] } : {}),
  })
  if (typeof input === 'string') return usage(io, input)
  const built = io.build(values.config ?? ['gateway.yaml'])
  if (!built.ok) {
    io.err(`${formatDiagnosticsText(built.diagnostics)}\nportcullis: config rejected\n`)
    return 1
  }
  const description = describeRequest(built.snapshot, input)
  io.out(
    values.format === 'json'
      ? `${JSON.stringify(description, null, 2)}\n`
      : formatDescription(description),
  )
  return 0
}

function usage(io: DescribeIo, message: string): number {
  io.err(`portcullis: ${message}\n\n${DESCRIBE_USAGE}`)
  return 2
}
