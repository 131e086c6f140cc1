/**
 * A minimal DNS server on UDP loopback for tests: answers A queries from a table the test can
 * change, with the TTL it is given; AAAA queries get an empty answer. It can also go silent or
 * answer NXDOMAIN, to exercise the resolver's failure paths.
 */
import { createSocket } from 'node:dgram'

export interface TestDnsServer {
  readonly address: string
  /** name → IPv4 addresses; absent names get NXDOMAIN. */
  readonly records: Map<string, readonly string[]>
  ttlSeconds: number
  /** When set, queries are dropped (the resolver times out). */
  silent: boolean
  queries: number
  close(): Promise<void>
}

export async function startTestDnsServer(): Promise<TestDnsServer> {
  const socket = createSocket('udp4')
  const server: TestDnsServer = {
    address: '',
    records: new Map(),
    ttlSeconds: 0,
    silent: false,
    queries: 0,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  }
  socket.on('message', (msg, rinfo) => {
    server.queries++
    if (server.silent || msg.length < 12) return
    const q = parseQuestion(msg)
    if (q === undefined) return
    const ips = q.type === 1 ? server.records.get(q.name.toLowerCase()) : undefined
    const known = server.records.has(q.name.toLowerCase())
    socket.send(
      buildAnswer(msg, q.end, known, ips ?? [], server.ttlSeconds),
      rinfo.port,
      rinfo.address,
    )
  })
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  const port = socket.address().port
  Object.assign(server, { address: `127.0.0.1:${port}` })
  return server
}

function parseQuestion(msg: Buffer): { name: string; type: number; end: number } | undefined {
  const labels: string[] = []
  let i = 12
  while (i < msg.length) {
    const len = msg[i]!
    if (len === 0) break
    labels.push(msg.toString('latin1', i + 1, i + 1 + len))
    i += len + 1
  }
  if (i + 5 > msg.length) return undefined
  return { name: labels.join('.'), type: msg.readUInt16BE(i + 1), end: i + 5 }
}

function buildAnswer(
  query: Buffer,
  questionEnd: number,
  known: boolean,
  ips: readonly string[],
  ttl: number,
): Buffer {
  const header = Buffer.alloc(12)
  query.copy(header, 0, 0, 2) // id
  header.writeUInt16BE(known ? 0x8180 : 0x8183, 2) // response, RD, RA; NXDOMAIN for unknown names
  header.writeUInt16BE(1, 4)
  header.writeUInt16BE(ips.length, 6)
  const question = query.subarray(12, questionEnd)
  const answers = ips.map((ip) => {
    const a = Buffer.alloc(16)
    a.writeUInt16BE(0xc00c, 0) // name: pointer to the question
    a.writeUInt16BE(1, 2) // A
    a.writeUInt16BE(1, 4) // IN
    a.writeUInt32BE(ttl, 6)
    a.writeUInt16BE(4, 10)
    ip.split('.').forEach((o, k) => a.writeUInt8(Number(o), 12 + k))
    return a
  })
  return Buffer.concat([header, question, ...answers])
}
