/**
 * Appends access-log lines to a file or /dev/stdout. Lines are batched in memory and written
 * with one asynchronous fs.write per batch (libuv's thread pool), so a slow disk or a full pipe
 * never blocks the event loop. The buffer is bounded: when the sink cannot keep up, new lines
 * are dropped and counted instead of growing memory until the process dies.
 */
import { close as closeFd, open, openSync, write } from 'node:fs'

export interface AccessLogWriterOptions {
  /** File to append to; '/dev/stdout' and '/dev/stderr' use the process's own descriptors. */
  readonly path: string
  /** Start a write as soon as this many characters are buffered. Default 64 KiB. */
  readonly flushSize?: number
  /** Otherwise write buffered lines after this long. Default 100 ms. */
  readonly flushIntervalMs?: number
  /**
   * Most characters held while a write is in flight; lines beyond it are dropped. Default 4 MiB.
   * Sizes count UTF-16 code units, which equal bytes for the ASCII lines access logs hold.
   */
  readonly maxBufferedSize?: number
  /** Called when a write or reopen fails; by default the first failure of a streak goes to stderr. */
  readonly onError?: (err: Error) => void
}

export interface AccessLogWriter {
  /** Queues one line (with its newline). Returns false when the line was dropped. */
  write(line: string): boolean
  /** Resolves once every line accepted before the call has been written (or failed). */
  flush(): Promise<void>
  /** Flushes, then releases the file. Lines written after close() are dropped. */
  close(): Promise<void>
  /** Opens the path again (after logrotate moved the file); the old descriptor is closed. */
  reopen(): Promise<void>
  /** Lines dropped so far: buffer full, write failed, or written after close. */
  readonly droppedLines: number
}

const DEFAULT_FLUSH_SIZE = 64 * 1024
const DEFAULT_FLUSH_INTERVAL_MS = 100
const DEFAULT_MAX_BUFFERED_SIZE = 4 * 1024 * 1024
// A non-blocking stdout pipe answers EAGAIN when full; retry at this pace until it drains.
const EAGAIN_RETRY_MS = 10

const STANDARD_STREAMS: ReadonlyMap<string, number> = new Map([
  ['/dev/stdout', 1],
  ['/dev/stderr', 2],
])

/** Opens the sink synchronously so a bad path fails at startup, not on the first request. */
export function createAccessLogWriter(options: AccessLogWriterOptions): AccessLogWriter {
  return new BufferedLineWriter(options)
}

interface FlushWaiter {
  readonly target: number
  readonly resolve: () => void
}

class BufferedLineWriter implements AccessLogWriter {
  private readonly path: string
  private readonly flushSize: number
  private readonly flushIntervalMs: number
  private readonly maxBufferedSize: number
  private readonly onError: (err: Error) => void
  private readonly ownsFd: boolean
  private fd: number
  private pending = ''
  private pendingLines = 0
  private writing = false
  private timer: NodeJS.Timeout | undefined = undefined
  private closed = false
  private closing: Promise<void> | undefined = undefined
  private acceptedLines = 0
  private settledLines = 0
  private dropped = 0
  private waiters: FlushWaiter[] = []
  /** Descriptors replaced by reopen() while a write to them was in flight. */
  private retiredFds: number[] = []

  constructor(options: AccessLogWriterOptions) {
    this.path = options.path
    this.flushSize = options.flushSize ?? DEFAULT_FLUSH_SIZE
    this.flushIntervalMs = options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS
    this.maxBufferedSize = options.maxBufferedSize ?? DEFAULT_MAX_BUFFERED_SIZE
    this.onError = options.onError ?? createStderrReporter(options.path)
    const standard = STANDARD_STREAMS.get(options.path)
    this.ownsFd = standard === undefined
    this.fd = standard ?? openSync(options.path, 'a')
  }

  get droppedLines(): number {
    return this.dropped
  }

  write(line: string): boolean {
    if (this.closed || this.pending.length + line.length > this.maxBufferedSize) {
      this.dropped++
      return false
    }
    this.pending += line
    this.pendingLines++
    this.acceptedLines++
    if (this.pending.length >= this.flushSize) this.startWrite()
    else if (this.timer === undefined && !this.writing) this.scheduleFlush()
    return true
  }

  flush(): Promise<void> {
    const target = this.acceptedLines
    if (this.settledLines >= target) return Promise.resolve()
    return new Promise((resolve) => {
      this.waiters.push({ target, resolve })
      this.startWrite()
    })
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown()
    return this.closing
  }

  reopen(): Promise<void> {
    if (!this.ownsFd || this.closed) return Promise.resolve()
    return new Promise((resolve) => {
      open(this.path, 'a', (err, fd) => {
        if (err !== null) {
          this.onError(err)
        } else if (this.closed) {
          closeFd(fd, noop)
        } else {
          const previous = this.fd
          this.fd = fd
          if (this.writing) this.retiredFds.push(previous)
          else closeFd(previous, noop)
        }
        resolve()
      })
    })
  }

  private async shutDown(): Promise<void> {
    this.closed = true
    await this.flush()
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    if (!this.ownsFd) return
    await new Promise<void>((resolve) => {
      closeFd(this.fd, () => resolve())
    })
  }

  private scheduleFlush(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.startWrite()
    }, this.flushIntervalMs)
    // Buffered lines alone must not keep the process alive; close() drains them on shutdown.
    this.timer.unref()
  }

  private startWrite(): void {
    if (this.writing || this.pending.length === 0) return
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    const chunk = Buffer.from(this.pending, 'utf8')
    const lines = this.pendingLines
    this.pending = ''
    this.pendingLines = 0
    this.writing = true
    this.writeChunk(this.fd, chunk, 0, lines)
  }

  private writeChunk(fd: number, chunk: Buffer, offset: number, lines: number): void {
    write(fd, chunk, offset, chunk.length - offset, null, (err, written) => {
      if (err !== null) {
        if (err.code === 'EAGAIN') {
          setTimeout(() => this.writeChunk(fd, chunk, offset, lines), EAGAIN_RETRY_MS)
          return
        }
        this.dropped += lines
        this.onError(err)
      } else if (offset + written < chunk.length) {
        this.writeChunk(fd, chunk, offset + written, lines)
        return
      }
      this.settledLines += lines
      this.finishWrite()
    })
  }

  private finishWrite(): void {
    this.writing = false
    for (const fd of this.retiredFds) closeFd(fd, noop)
    this.retiredFds = []
    if (this.waiters.length > 0) {
      const settled = this.settledLines
      const stillWaiting: FlushWaiter[] = []
      for (const waiter of this.waiters) {
        if (waiter.target <= settled) waiter.resolve()
        else stillWaiting.push(waiter)
      }
      this.waiters = stillWaiting
    }
    if (this.pending.length === 0) return
    // Someone is waiting, or enough is buffered: write now. Otherwise let the timer batch more.
    if (this.waiters.length > 0 || this.pending.length >= this.flushSize) this.startWrite()
    else if (this.timer === undefined) this.scheduleFlush()
  }
}

function noop(): void {}

/** Reports the first failure of a streak; a sink that stays broken does not flood stderr. */
function createStderrReporter(path: string): (err: Error) => void {
  let lastCode: string | undefined
  return (err) => {
    const code = (err as NodeJS.ErrnoException).code ?? err.message
    if (code === lastCode) return
    lastCode = code
    process.stderr.write(
      `access log ${path}: ${err.message}; lines are being dropped (repeats of this error are not reported)\n`,
    )
  }
}
