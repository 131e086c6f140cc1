import type * as ir from '../../ir/index.js'

const REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)',
  EADDRNOTAVAIL: 'address not available on this host',
}

/** A listener's address:port could not be bound; `code` is the errno name (EADDRINUSE, ...). */
export class ListenerBindError extends Error {
  readonly listenerId: ir.ListenerId
  readonly code: string | undefined

  constructor(listenerId: ir.ListenerId, cause: NodeJS.ErrnoException) {
    const code = cause.code
    const reason = (code !== undefined ? REASONS[code] : undefined) ?? cause.message
    super(
      `cannot bind listener ${listenerId}: ${reason}${code !== undefined ? ` (${code})` : ''}`,
      {
        cause,
      },
    )
    this.name = 'ListenerBindError'
    this.listenerId = listenerId
    this.code = code
  }
}
