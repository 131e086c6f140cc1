// Hand-built HTTP/2 frames (RFC 9113 §4, §6) and a raw client over TLS with ALPN h2, for abuse
// tests that node:http2's client will not produce (rapid reset, CONTINUATION and SETTINGS floods,
// HTTP/1.1 bytes after negotiating h2). Header blocks use HPACK static-table entries and literals
// without indexing only, so no HPACK state is needed on either side.
import { connect as tlsConnect, type TLSSocket } from 'node:tls'

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

export const FRAME = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const

export const FLAG = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const

/** RFC 9113 §7 error codes the tests look for. */
export const H2_ERROR = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  CANCEL: 0x8,
  ENHANCE_YOUR_CALM: 0xb,
} as const

export interface Frame {
  readonly type: number
  readonly flags: number
  readonly streamId: number
  readonly payload: Buffer
}

export function frame(type: number, flags: number, streamId: number, payload?: Buffer): Buffer {
  const body = payload ?? Buffer.alloc(0)
  const head = Buffer.alloc(9)
  head.writeUIntBE(body.length, 0, 3)
  head[3] = type
  head[4] = flags
  head.writeUInt32BE(streamId & 0x7fffffff, 5)
  return Buffer.concat([head, body])
}

export function settingsFrame(entries: ReadonlyArray<readonly [number, number]> = []): Buffer {
  const payload = Buffer.alloc(entries.length * 6)
  entries.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6)
    payload.writeUInt32BE(value, i * 6 + 2)
  })
  return frame(FRAME.SETTINGS, 0, 0, payload)
}

export const SETTINGS_ACK = frame(FRAME.SETTINGS, FLAG.ACK, 0)

export function pingFrame(data = 0): Buffer {
  const payload = Buffer.alloc(8)
  payload.writeUInt32BE(data >>> 0, 4)
  return frame(FRAME.PING, 0, 0, payload)
}

export function rstStreamFrame(streamId: number, code: number): Buffer {
  const payload = Buffer.alloc(4)
  payload.writeUInt32BE(code, 0)
  return frame(FRAME.RST_STREAM, 0, streamId, payload)
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const payload = Buffer.alloc(4)
  payload.writeUInt32BE(increment & 0x7fffffff, 0)
  return frame(FRAME.WINDOW_UPDATE, 0, streamId, payload)
}

export function headersFrame(streamId: number, block: Buffer, flags: number): Buffer {
  return frame(FRAME.HEADERS, flags, streamId, block)
}

export function continuationFrame(streamId: number, block: Buffer, flags: number): Buffer {
  return frame(FRAME.CONTINUATION, flags, streamId, block)
}

function literal(nameIndex: number, value: string): Buffer {
  const v = Buffer.from(value, 'latin1')
  if (v.length > 126) throw new Error('literal: values up to 126 bytes only')
  // Literal Header Field without Indexing, indexed name (RFC 7541 §6.2.2), no Huffman.
  return Buffer.concat([Buffer.from([nameIndex & 0x0f, v.length]), v])
}

/** GET https://<authority><path>: :method GET (2), :scheme https (7), :path (4), :authority (1). */
export function requestBlock(authority: string, path = '/'): Buffer {
  return Buffer.concat([Buffer.from([0x82, 0x87]), literal(4, path), literal(1, authority)])
}

/** A header `x-pad: <value>` as a literal with a literal name (RFC 7541 §6.2.2). */
export function padHeader(value: string): Buffer {
  const name = Buffer.from('x-pad', 'latin1')
  const v = Buffer.from(value, 'latin1')
  if (v.length > 126) throw new Error('padHeader: values up to 126 bytes only')
  return Buffer.concat([Buffer.from([0x00, name.length]), name, Buffer.from([v.length]), v])
}

/** Splits complete frames off the front of `buf`. */
export function parseFrames(buf: Buffer): { frames: Frame[]; rest: Buffer } {
  const frames: Frame[] = []
  let pos = 0
  while (buf.length - pos >= 9) {
    const length = buf.readUIntBE(pos, 3)
    if (buf.length - pos < 9 + length) break
    frames.push({
      type: buf[pos + 3]!,
      flags: buf[pos + 4]!,
      streamId: buf.readUInt32BE(pos + 5) & 0x7fffffff,
      payload: buf.subarray(pos + 9, pos + 9 + length),
    })
    pos += 9 + length
  }
  return { frames, rest: buf.subarray(pos) }
}

export interface RawH2Options {
  port: number
  servername: string
  ca: string
  /** Default ['h2']. */
  alpn?: string[]
  /** Send no preface on connect (the caller writes whatever it likes). */
  noPreface?: boolean
}

export interface RawH2Connection {
  readonly socket: TLSSocket
  /** Every frame the server sent, in order. */
  readonly frames: Frame[]
  /** Epoch ms of the first GOAWAY received, if any. */
  readonly goawayAt: number | undefined
  /** Epoch ms when the connection closed, if it has. */
  readonly closedAt: number | undefined
  /** Settles when the TCP connection is closed (by either side). */
  readonly closed: Promise<void>
  /** The GOAWAY frame's error code, if one arrived. */
  goawayCode(): number | undefined
  /** Writes and resolves when the bytes are handed to the kernel (or the socket is gone). */
  write(data: Buffer): Promise<void>
  /** Resolves true once `predicate` holds for a received frame, false at the deadline or close. */
  waitForFrame(predicate: (f: Frame) => boolean, timeoutMs: number): Promise<boolean>
  /** Resolves true when closed within timeoutMs. */
  waitClosed(timeoutMs: number): Promise<boolean>
  destroy(): void
}

/** A TLS connection that negotiated ALPN h2 and sent the client preface + empty SETTINGS. */
export function openRawH2(opts: RawH2Options): Promise<RawH2Connection> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: opts.port,
      servername: opts.servername,
      ca: opts.ca,
      ALPNProtocols: opts.alpn ?? ['h2'],
    })
    const frames: Frame[] = []
    const watchers = new Set<() => void>()
    let rest: Buffer = Buffer.alloc(0)
    let goawayAt: number | undefined
    let closedAt: number | undefined
    let isSecure = false
    const closed = new Promise<void>((r) => socket.once('close', () => r()))
    socket.on('data', (chunk: Buffer) => {
      const parsed = parseFrames(rest.length === 0 ? chunk : Buffer.concat([rest, chunk]))
      rest = parsed.rest
      for (const f of parsed.frames) {
        frames.push(f)
        if (f.type === FRAME.GOAWAY && goawayAt === undefined) goawayAt = Date.now()
      }
      for (const w of watchers) w()
    })
    socket.on('error', (err) => {
      if (!isSecure) reject(err)
    })
    socket.on('close', () => {
      closedAt = Date.now()
      for (const w of watchers) w()
    })
    socket.once('secureConnect', () => {
      isSecure = true
      if (opts.noPreface !== true) socket.write(Buffer.concat([PREFACE, settingsFrame()]))
      resolve({
        socket,
        frames,
        get goawayAt() {
          return goawayAt
        },
        get closedAt() {
          return closedAt
        },
        closed,
        goawayCode() {
          const g = frames.find((f) => f.type === FRAME.GOAWAY)
          return g === undefined || g.payload.length < 8 ? undefined : g.payload.readUInt32BE(4)
        },
        write(data) {
          return new Promise((r) => {
            if (socket.destroyed || !socket.writable) {
              r()
              return
            }
            socket.write(data, () => r())
          })
        },
        waitForFrame(predicate, timeoutMs) {
          return new Promise((r) => {
            const check = (): boolean => {
              if (frames.some(predicate)) return finish(true)
              if (closedAt !== undefined) return finish(false)
              return false
            }
            const timer = setTimeout(() => finish(false), timeoutMs)
            const finish = (value: boolean): true => {
              clearTimeout(timer)
              watchers.delete(watcher)
              r(value)
              return true
            }
            const watcher = (): void => {
              check()
            }
            watchers.add(watcher)
            check()
          })
        },
        waitClosed(timeoutMs) {
          if (closedAt !== undefined) return Promise.resolve(true)
          return new Promise((r) => {
            const timer = setTimeout(() => r(false), timeoutMs)
            void closed.then(() => {
              clearTimeout(timer)
              r(true)
            })
          })
        },
        destroy() {
          socket.destroy()
        },
      })
    })
  })
}

/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1); `first` holds the bits above it. */
function hpackInteger(value: number, prefixBits: number, first: number): Buffer {
  const max = (1 << prefixBits) - 1
  if (value < max) return Buffer.from([first | value])
  const out = [first | max]
  let rest = value - max
  // Seven bits a byte: bounded by the value's size.
  while (rest >= 128) {
    out.push((rest % 128) + 128)
    rest = Math.floor(rest / 128)
  }
  out.push(rest)
  return Buffer.from(out)
}

/**
 * Any name and value, byte for byte (latin1), as a literal without indexing with a literal name
 * (RFC 7541 §6.2.2), no Huffman: pseudo-headers, upper case, CR/LF/NUL — what no client library
 * will send.
 */
export function literalHeader(name: string, value: string): Buffer {
  const n = Buffer.from(name, 'latin1')
  const v = Buffer.from(value, 'latin1')
  return Buffer.concat([
    Buffer.from([0x00]),
    hpackInteger(n.length, 7, 0),
    n,
    hpackInteger(v.length, 7, 0),
    v,
  ])
}

/** Huffman codes of the digits (RFC 7541 Appendix B), as [bits, length]. */
const HUFFMAN_DIGITS: ReadonlyArray<readonly [number, number]> = [
  [0b00000, 5],
  [0b00001, 5],
  [0b00010, 5],
  [0b011001, 6],
  [0b011010, 6],
  [0b011011, 6],
  [0b011100, 6],
  [0b011101, 6],
  [0b011110, 6],
  [0b011111, 6],
]
/** `:status` values of the static table (RFC 7541 Appendix A), by index. */
const STATIC_STATUS: Readonly<Record<number, number>> = {
  8: 200,
  9: 204,
  10: 206,
  11: 304,
  12: 400,
  13: 404,
  14: 500,
}

/**
 * The `:status` of a response header block, which servers send first: an indexed static entry, or
 * a literal with the `:status` name index and a plain or Huffman-coded 3-digit value. undefined
 * for anything else (this is not an HPACK decoder).
 */
export function responseStatus(block: Buffer): number | undefined {
  const b = block[0]
  if (b === undefined) return undefined
  if (b & 0x80) return STATIC_STATUS[b & 0x7f]
  const nameIndex = b & 0x40 ? b & 0x3f : b & 0x0f
  if (nameIndex < 8 || nameIndex > 14) return undefined
  const lengthByte = block[1] ?? 0
  const value = block.subarray(2, 2 + (lengthByte & 0x7f))
  if ((lengthByte & 0x80) === 0) return Number(value.toString('latin1'))
  let bits = 0
  let count = 0
  let digits = ''
  for (const byte of value) {
    bits = (bits << 8) | byte
    count += 8
    // Each round consumes one code of 5 or 6 bits: bounded by the value's bits.
    for (let matched = true; matched && count >= 5;) {
      matched = false
      for (const [digit, [code, length]] of HUFFMAN_DIGITS.entries()) {
        if (count >= length && bits >>> (count - length) === code) {
          digits += String(digit)
          count -= length
          bits &= (1 << count) - 1
          matched = true
          break
        }
      }
    }
  }
  return digits.length === 3 ? Number(digits) : undefined
}
