/**
 * Application log (not the access log): one line per event on stderr, JSON or text. Access logs
 * own stdout by default, so the two never interleave.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
const RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 }

export type LogFields = Readonly<Record<string, unknown>>

export interface Logger {
  debug(msg: string, fields?: LogFields): void
  info(msg: string, fields?: LogFields): void
  warn(msg: string, fields?: LogFields): void
  error(msg: string, fields?: LogFields): void
  child(fields: LogFields): Logger
}

export interface LoggerOptions {
  readonly level?: LogLevel
  readonly format?: 'json' | 'text'
  readonly write?: (line: string) => void
}

export function createLogger(opts: LoggerOptions = {}, bound: LogFields = {}): Logger {
  const min = RANK[opts.level ?? 'info']
  const write = opts.write ?? ((line: string) => process.stderr.write(line))
  const json = (opts.format ?? 'text') === 'json'
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (RANK[level] < min) return
    const all = { ...bound, ...fields }
    if (json) {
      write(
        `${JSON.stringify({ time: new Date().toISOString(), level, msg, ...all }, errorReplacer)}\n`,
      )
    } else {
      const kv = Object.entries(all)
        .map(
          ([k, v]) =>
            `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v, errorReplacer)}`,
        )
        .join(' ')
      write(
        `${new Date().toISOString()} ${level.toUpperCase()} ${msg}${kv !== '' ? ` ${kv}` : ''}\n`,
      )
    }
  }
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (f) => createLogger(opts, { ...bound, ...f }),
  }
}

function errorReplacer(_k: string, v: unknown): unknown {
  return v instanceof Error ? { message: v.message, code: (v as NodeJS.ErrnoException).code } : v
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
}
