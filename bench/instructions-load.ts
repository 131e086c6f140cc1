// The load of bench/instructions.ts: a fixed number of requests, closed loop, eight at a time,
// from the runner's own process (it is not counted; only the gateway runs under callgrind). The
// count of instructions does not depend on the rate, so nothing here is timed; what must be the
// same for two targets of a pair is the shape: the same concurrency, the same requests.
import { connect } from 'node:net'
import { Pool } from 'undici'
import { v2Header } from './proxy-v2-header.js'

export interface Drive {
  readonly answered: number
  /** Errors and non-2xx answers: a window with any is not a valid measurement. */
  readonly failures: number
}

const CONCURRENCY = 8

/** `n` GET / over eight keep-alive connections. */
export async function driveKeepAlive(port: number, n: number): Promise<Drive> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONCURRENCY, pipelining: 1 })
  let started = 0
  let answered = 0
  let failures = 0
  const worker = async (): Promise<void> => {
    while (started < n) {
      started++
      try {
        const res = await pool.request({ path: '/', method: 'GET' })
        await res.body.dump()
        if (res.statusCode === 200) answered++
        else failures++
      } catch {
        failures++
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  await pool.close()
  return { answered, failures }
}

/**
 * `n` requests, each on its own connection with `Connection: close`, read to the server's FIN.
 * With `header: 'v2'` each connection's first write is the PROXY header and the request
 * together, as a balancer that has the client's first bytes sends them.
 */
export async function driveNewConnections(
  port: number,
  n: number,
  header: 'v2' | 'none',
): Promise<Drive> {
  const request = Buffer.from(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
    'latin1',
  )
  let started = 0
  let answered = 0
  let failures = 0
  const one = (i: number): Promise<void> =>
    new Promise((resolve) => {
      let head = ''
      let finished = false
      const socket = connect({ host: '127.0.0.1', port, noDelay: true })
      socket.once('connect', () => {
        socket.write(
          header === 'v2'
            ? Buffer.concat([
                v2Header(
                  { address: '127.0.0.1', port: 40000 + (i % 20000) },
                  { address: '127.0.0.1', port },
                ),
                request,
              ])
            : request,
        )
      })
      socket.on('data', (chunk: Buffer) => {
        if (head.length < 16) head += chunk.toString('latin1', 0, 16)
      })
      const done = (ok: boolean): void => {
        if (finished) return
        finished = true
        socket.destroy()
        if (ok && /^HTTP\/1\.1 200 /.test(head)) answered++
        else failures++
        resolve()
      }
      socket.once('end', () => done(true))
      socket.once('error', () => done(false))
    })
  const worker = async (): Promise<void> => {
    while (started < n) await one(started++)
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return { answered, failures }
}
