/**
 * One place where an error that ends a downstream connection is counted and logged. The
 * connection it happened on is closed by the caller; nothing here throws, so a report from any
 * socket, TLS or HTTP/2 callback cannot itself escape that callback.
 */
import type { Logger } from '../../lib/index.js'
import type { ConnectionObserver } from '../../observe/events.js'
import { createLogBudget } from './log-budget.js'

export interface ConnectionErrorReporter {
  /**
   * Counts the error under `reason` (a fixed word: it is a metric label) and logs it unless that
   * reason used up its log budget for now. `err` is logged with its stack when it is a throw
   * from our own code, which is a bug to fix even though only one connection paid for it.
   */
  report(listener: string, reason: string, fields?: Readonly<Record<string, unknown>>): void
}

export function createConnectionErrorReporter(
  log: Logger,
  observer?: ConnectionObserver,
): ConnectionErrorReporter {
  const budget = createLogBudget()
  return {
    report(listener, reason, fields) {
      try {
        observer?.onConnectionError(listener, reason)
        const { allowed, suppressed } = budget.take(reason)
        if (!allowed) return
        log.warn('downstream connection closed on error', {
          listener,
          reason,
          ...fields,
          ...(suppressed > 0 ? { suppressed } : {}),
        })
      } catch {
        // A metrics or log failure must not become this connection's second error.
      }
    },
  }
}

/** The fields that say which connection it was, safe to read on a socket already gone. */
export function peerFields(socket: {
  readonly remoteAddress?: string | undefined
  readonly remotePort?: number | undefined
}): Record<string, unknown> {
  return { client: `${socket.remoteAddress ?? '-'}:${socket.remotePort ?? '-'}` }
}

/** An error's code and message, and its stack when it is a throw from code (not a peer). */
export function errorFields(err: unknown, withStack = false): Record<string, unknown> {
  if (!(err instanceof Error)) return { error: String(err) }
  const code = (err as NodeJS.ErrnoException).code
  return {
    error: err.message,
    ...(code !== undefined ? { code } : {}),
    ...(withStack && err.stack !== undefined ? { stack: err.stack } : {}),
  }
}
