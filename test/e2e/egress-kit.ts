// Pieces the egress end-to-end tests share: an HTTPS upstream that counts the connections it
// accepts, a raw CONNECT client, a TLS client that goes through a CONNECT tunnel or straight to a
// gateway port, and readers for the access log and the metrics endpoint.
import { readFile } from 'node:fs/promises'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { issueCertificate, type Pem } from '../../src/cli/cert-forge.js'

export interface HttpsUpstream {
  readonly name: string
  readonly host: string
  readonly port: number
  /** TCP connections accepted so far (handshakes or not). */
  readonly connections: number
  close(): Promise<void>
}

/** An HTTPS server on a loopback address whose certificate, signed by `ca`, names `hosts`. */
export async function startHttpsUpstream(opts: {
  name: string
  ca: Pem
  hosts: readonly string[]
  host?: string
}): Promise<HttpsUpstream> {
  const host = opts.host ?? '127.0.0.1'
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) throw new Error(`${host} is not loopback`)
  const pem = issueCertificate(opts.ca, { hosts: opts.hosts })
  const sockets = new Set<Socket>()
  let connections = 0
  const server: HttpsServer = createHttpsServer({ key: pem.key, cert: pem.cert }, (req, res) => {
    req.resume()
    req.on('end', () => {
      const body = JSON.stringify({ name: opts.name, host: req.headers.host, url: req.url })
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'x-upstream-name': opts.name,
      })
      res.end(body)
    })
  })
  server.on('connection', (s: Socket) => {
    connections++
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => resolve())
  })
  const { port } = server.address() as AddressInfo
  return {
    name: opts.name,
    host,
    port,
    get connections() {
      return connections
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      for (const s of sockets) s.destroy()
      await closed
    },
  }
}

export interface ConnectReply {
  /** The proxy's response head and body, as text. */
  readonly text: string
  readonly status: number | undefined
  readonly isClosed: boolean
}

/** Sends `CONNECT target` to the proxy and reads until it closes or goes quiet. */
export function rawConnect(proxyPort: number, target: string): Promise<ConnectReply> {
  return new Promise((resolve) => {
    const s = netConnect(proxyPort, '127.0.0.1', () => {
      s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`)
    })
    let text = ''
    let isDone = false
    const finish = (isClosed: boolean): void => {
      if (isDone) return
      isDone = true
      clearTimeout(timer)
      s.destroy()
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text)
      resolve({ text, status: m ? Number(m[1]) : undefined, isClosed })
    }
    const timer = setTimeout(() => finish(false), 3000)
    s.setEncoding('latin1')
    s.on('data', (d: string) => {
      text += d
      // A tunnel stays open: the established line is all there is to read.
      if (/^HTTP\/1\.1 200[^\r]*\r\n\r\n/.test(text)) finish(false)
    })
    s.on('error', () => finish(true))
    s.on('close', () => finish(true))
  })
}

export interface TlsReply {
  /** The HTTP status the upstream answered, or undefined when no response came back. */
  readonly status: number | undefined
  readonly body: string
  /** Subject alternative names of the certificate the client saw. */
  readonly peerNames: string | undefined
  readonly error: string | undefined
}

/**
 * One HTTP/1.1 GET over TLS with `servername`, verified against `ca`. With `viaProxy` the TLS
 * goes through a CONNECT tunnel to `target`; otherwise straight to 127.0.0.1:port.
 */
export function tlsGet(opts: {
  port: number
  servername?: string
  ca: string
  path?: string
  viaProxy?: { target: string }
}): Promise<TlsReply> {
  return new Promise((resolve) => {
    let isDone = false
    let peerNames: string | undefined
    let data = ''
    const finish = (error?: string): void => {
      if (isDone) return
      isDone = true
      clearTimeout(timer)
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data)
      const i = data.indexOf('\r\n\r\n')
      resolve({
        status: m ? Number(m[1]) : undefined,
        body: i < 0 ? '' : data.slice(i + 4),
        peerNames,
        error,
      })
    }
    const timer = setTimeout(() => finish('timeout'), 4000)
    const startTls = (socket?: Socket): void => {
      const tls = tlsConnect({
        ...(socket !== undefined ? { socket } : { host: '127.0.0.1', port: opts.port }),
        ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
        ca: opts.ca,
        ALPNProtocols: ['http/1.1'],
      })
      tls.setEncoding('utf8')
      tls.once('secureConnect', () => {
        peerNames = tls.getPeerCertificate().subjectaltname
        const host = opts.viaProxy?.target ?? opts.servername ?? '127.0.0.1'
        tls.write(`GET ${opts.path ?? '/'} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
      })
      tls.on('data', (d: string) => (data += d))
      tls.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message))
      tls.on('close', () => finish())
    }
    if (opts.viaProxy === undefined) {
      startTls()
      return
    }
    const target = opts.viaProxy.target
    const raw = netConnect(opts.port, '127.0.0.1', () => {
      raw.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`)
    })
    let head = ''
    const onData = (d: Buffer): void => {
      head += d.toString('latin1')
      if (!head.includes('\r\n\r\n')) return
      raw.off('data', onData)
      if (!head.startsWith('HTTP/1.1 200')) {
        data = head
        raw.destroy()
        finish('connect refused')
        return
      }
      startTls(raw)
    }
    raw.on('data', onData)
    raw.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message))
  })
}

/** Access-log lines (JSON encoding) that satisfy `pick`, waiting up to 3 s for one to appear. */
export async function accessLogLines(
  path: string,
  pick: (entry: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>[]> {
  for (let i = 0; i < 60; i++) {
    const text = await readFile(path, 'utf8').catch(() => '')
    const found = text
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter(pick)
    if (found.length > 0) return found
    await new Promise((r) => setTimeout(r, 50))
  }
  return []
}

/** The Prometheus text the metrics port serves. */
export async function scrapeMetrics(metricsPort: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/stats/prometheus`)
  return res.text()
}

/** The value of the first sample whose line contains every one of `parts`, or undefined. */
export function sampleValue(
  metrics: string,
  name: string,
  parts: readonly string[],
): number | undefined {
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue
    if (parts.every((p) => line.includes(p))) return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return undefined
}
