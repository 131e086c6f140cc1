/**
 * argv → what to do. node:util parseArgs, strict: an unknown command or flag is a usage error
 * (exit 2), never ignored.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import type { LogLevel } from '../lib/index.js'
import { MAIN_USAGE, RUN_USAGE, VALIDATE_USAGE, VERSION_USAGE } from './usage.js'

export type LogFormat = 'text' | 'json'

export interface LogOptions {
  readonly level: LogLevel
  readonly format: LogFormat
}

export type Command =
  | {
      readonly kind: 'run'
      readonly configPaths: readonly string[]
      readonly watch: boolean
      readonly log: LogOptions
    }
  | {
      readonly kind: 'validate'
      readonly paths: readonly string[]
      readonly format: 'text' | 'json'
      readonly log: LogOptions
    }
  | { readonly kind: 'version' }
  /** `certs ca|issue …`: parsed by cli/certs.ts. */
  | { readonly kind: 'certs'; readonly argv: readonly string[] }
  /** `describe …`: parsed by cli/describe.ts. */
  | { readonly kind: 'describe'; readonly argv: readonly string[] }
  /** `suggest serviceentries …`: parsed by cli/suggest.ts. */
  | { readonly kind: 'suggest'; readonly argv: readonly string[] }
  /** Print `text` to stdout and exit 0. */
  | { readonly kind: 'help'; readonly text: string }
  /** Print `message` and `usage` to stderr and exit 2. */
  | { readonly kind: 'usage-error'; readonly message: string; readonly usage: string }

export const DEFAULT_CONFIG_PATH = 'gateway.yaml'

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error']
const LOG_FORMATS: readonly LogFormat[] = ['text', 'json']

const COMMON = {
  help: { type: 'boolean', short: 'h' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
} as const satisfies ParseArgsConfig['options']

const USAGES: Readonly<Record<string, string>> = {
  run: RUN_USAGE,
  validate: VALIDATE_USAGE,
  version: VERSION_USAGE,
}

type Env = Readonly<Record<string, string | undefined>>

export function parseCommand(argv: readonly string[], env: Env = process.env): Command {
  const [first, ...rest] = argv
  if (first === undefined) return usageError('no command given', MAIN_USAGE)
  if (first === '-h' || first === '--help') return { kind: 'help', text: MAIN_USAGE }
  if (first === '--version') return { kind: 'version' }
  if (first === 'help') {
    const topic = rest[0]
    if (topic === undefined) return { kind: 'help', text: MAIN_USAGE }
    const text = USAGES[topic]
    return text !== undefined
      ? { kind: 'help', text }
      : usageError(`unknown command "${topic}"`, MAIN_USAGE)
  }
  try {
    switch (first) {
      case 'run':
        return parseRun(rest, env)
      case 'validate':
        return parseValidate(rest, env)
      case 'version':
        return parseVersion(rest)
      case 'certs':
        return { kind: 'certs', argv: rest }
      case 'suggest':
        return { kind: 'suggest', argv: rest }
      case 'describe':
        return { kind: 'describe', argv: rest }
      default:
        return usageError(
          first.startsWith('-') ? `unknown option "${first}"` : `unknown command "${first}"`,
          MAIN_USAGE,
        )
    }
  } catch (e) {
    return usageError(parseErrorText(e), USAGES[first] ?? MAIN_USAGE)
  }
}

/** parseArgs explains how to pass positionals that start with '-'; users need the option name. */
function parseErrorText(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e)
  if ((e as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const option = /'([^']+)'/.exec(message)?.[1]
    if (option !== undefined) return `unknown option "${option}"`
  }
  return message
}

function parseRun(args: readonly string[], env: Env): Command {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: {
      ...COMMON,
      config: { type: 'string', short: 'c', multiple: true },
      watch: { type: 'boolean', default: true },
    },
    allowNegative: true,
    allowPositionals: true,
    strict: true,
  })
  if (values.help === true) return { kind: 'help', text: RUN_USAGE }
  if (positionals.length > 0) {
    return usageError(`unexpected argument "${positionals[0]}" (use -c PATH)`, RUN_USAGE)
  }
  const log = parseLog(values, env, RUN_USAGE)
  if ('kind' in log) return log
  const configPaths = values.config ?? [DEFAULT_CONFIG_PATH]
  return { kind: 'run', configPaths, watch: values.watch, log }
}

function parseValidate(args: readonly string[], env: Env): Command {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: { ...COMMON, format: { type: 'string', default: 'text' } },
    allowPositionals: true,
    strict: true,
  })
  if (values.help === true) return { kind: 'help', text: VALIDATE_USAGE }
  if (values.format !== 'text' && values.format !== 'json') {
    return usageError(`--format must be text or json, not "${values.format}"`, VALIDATE_USAGE)
  }
  if (positionals.length === 0) return usageError('no config path given', VALIDATE_USAGE)
  const log = parseLog(values, env, VALIDATE_USAGE)
  if ('kind' in log) return log
  return { kind: 'validate', paths: positionals, format: values.format, log }
}

function parseVersion(args: readonly string[]): Command {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: { help: COMMON.help },
    allowPositionals: true,
    strict: true,
  })
  if (values.help === true) return { kind: 'help', text: VERSION_USAGE }
  if (positionals.length > 0)
    return usageError(`unexpected argument "${positionals[0]}"`, VERSION_USAGE)
  return { kind: 'version' }
}

function parseLog(
  values: { readonly 'log-level'?: string | undefined; readonly 'log-format'?: string | undefined },
  env: Env,
  usage: string,
): LogOptions | Command {
  const level = values['log-level'] ?? env['PORTCULLIS_LOG_LEVEL'] ?? 'info'
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    const from = values['log-level'] !== undefined ? '--log-level' : 'PORTCULLIS_LOG_LEVEL'
    return usageError(`${from} must be one of ${LOG_LEVELS.join(', ')}, not "${level}"`, usage)
  }
  const format = values['log-format'] ?? env['PORTCULLIS_LOG_FORMAT'] ?? 'text'
  if (!(LOG_FORMATS as readonly string[]).includes(format)) {
    const from = values['log-format'] !== undefined ? '--log-format' : 'PORTCULLIS_LOG_FORMAT'
    return usageError(`${from} must be text or json, not "${format}"`, usage)
  }
  return { level: level as LogLevel, format: format as LogFormat }
}

function usageError(message: string, usage: string): Command {
  return { kind: 'usage-error', message, usage }
}
