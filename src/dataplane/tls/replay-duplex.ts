/**
 * A Duplex over a socket that first replays bytes already read from it. Needed because
 * `socket.unshift()` + `new TLSSocket(socket)` hangs: TLSSocket wraps the native handle of a
 * net.Socket and never sees bytes buffered in JS (ecosystem.md §2). Wrapping forces Node's
 * JS-stream path, which reads through us.
 */
import { Duplex } from 'node:stream'
import type { Socket } from 'node:net'

export class ReplayDuplex extends Duplex {
  readonly socket: Socket

  constructor(socket: Socket, prefix: Buffer) {
    super({ allowHalfOpen: false })
    this.socket = socket
    if (prefix.length > 0) this.push(prefix)
    socket.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) socket.pause()
    })
    socket.on('end', () => this.push(null))
    socket.on('close', () => this.destroy())
    socket.on('error', (err) => this.destroy(err))
    socket.resume()
  }

  override _read(): void {
    this.socket.resume()
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.socket.write(chunk, cb)
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(cb)
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.socket.destroy()
    cb(err)
  }

  // Read by the request path and logs through TLSSocket (remoteAddress etc. are proxied there).
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress
  }
  get remotePort(): number | undefined {
    return this.socket.remotePort
  }
  get localAddress(): string | undefined {
    return this.socket.localAddress
  }
  get localPort(): number | undefined {
    return this.socket.localPort
  }
}
