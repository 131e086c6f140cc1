// Fuzzing the real listeners of a real gateway process (hardening.md §10): random and mutated
// HTTP/1.1 bytes on the plain port, random HTTP/2 frames after the preface over TLS with ALPN h2,
// and random or mutated TLS records (a real ClientHello, mutated) on the TLS port. After every
// batch the process must still be running and answer a canary over HTTP/1.1 and HTTP/2.
//
// Seeded and bounded: PORTCULLIS_FUZZ_SEED (default fixed) and PORTCULLIS_FUZZ_RUNS (inputs per
// target, default 60) choose the inputs; a failing batch is printed in hex to replay it.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, connect as netConnect } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import fc from 'fast-check'
import { EDGE_HOST, startEdgeGateway, type EdgeGateway } from './harness/edge-gateway.js'
import { frame, PREFACE, requestBlock, settingsFrame, FLAG, FRAME } from './harness/h2-frames.js'

const SEED = Number(process.env['PORTCULLIS_FUZZ_SEED'] ?? 20261201)
const RUNS = Math.max(1, Number(process.env['PORTCULLIS_FUZZ_RUNS'] ?? 60))
const BATCH = 10
/** How long one input's connection may live; the gateway's answer is not what is checked. */
const INPUT_MS = 1000

const SEEDS_H1 = [
  'GET / HTTP/1.1\r\nHost: a.test\r\n\r\n',
  'POST /p HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello',
  'POST /c HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'GET /u HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
  'CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a.test\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx',
  'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
].map((s) => Buffer.from(s, 'latin1'))

/** http-garden style operators: delete, insert, replace a byte; duplicate or cut a range. */
function mutated(seeds: readonly Buffer[]): fc.Arbitrary<Buffer> {
  const op = fc.record({
    kind: fc.constantFrom('delete', 'insert', 'replace', 'duplicate', 'cut'),
    at: fc.nat(),
    len: fc.integer({ min: 1, max: 16 }),
    byte: fc.constantFrom(0x00, 0x0a, 0x0d, 0x20, 0x3a, 0x7f, 0x80, 0xff, 0x09, 0x2c, 0x3b),
  })
  return fc
    .tuple(fc.constantFrom(...seeds), fc.array(op, { minLength: 1, maxLength: 6 }))
    .map(([seed, ops]) => {
      let b = Buffer.from(seed)
      for (const o of ops) {
        const at = b.length === 0 ? 0 : o.at % b.length
        if (o.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)])
        else if (o.kind === 'insert')
          b = Buffer.concat([b.subarray(0, at), Buffer.from([o.byte]), b.subarray(at)])
        else if (o.kind === 'replace' && b.length > 0) b[at] = o.byte
        else if (o.kind === 'duplicate')
          b = Buffer.concat([
            b.subarray(0, at + o.len),
            b.subarray(at, at + o.len),
            b.subarray(at + o.len),
          ])
        else if (o.kind === 'cut') b = b.subarray(0, at)
      }
      return b
    })
}

const randomBytes = (max: number) =>
  fc.uint8Array({ minLength: 1, maxLength: max }).map((a) => Buffer.from(a))

const h1Input = fc.oneof(mutated(SEEDS_H1), randomBytes(512))

const h2Frame = fc.oneof(
  fc
    .record({
      type: fc.integer({ min: 0, max: 12 }),
      flags: fc.integer({ min: 0, max: 255 }),
      stream: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 9 }), fc.nat()),
      payload: fc.uint8Array({ maxLength: 64 }),
    })
    .map((f) => frame(f.type, f.flags, f.stream, Buffer.from(f.payload))),
  fc
    .integer({ min: 0, max: 20 })
    .map((i) =>
      frame(
        FRAME.HEADERS,
        FLAG.END_HEADERS | FLAG.END_STREAM,
        2 * i + 1,
        requestBlock(EDGE_HOST, `/f${i}`),
      ),
    ),
  fc.constant(settingsFrame([[0x4, 0x7fffffff]])),
)
const h2Input = fc.oneof(
  fc.array(h2Frame, { minLength: 1, maxLength: 12 }).map((fs) => Buffer.concat(fs)),
  mutated([
    Buffer.concat([frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, requestBlock(EDGE_HOST, '/m'))]),
  ]),
)

/** Sends `bytes` on a fresh TCP connection and lets it go after INPUT_MS or the peer's close. */
function sendTcp(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port })
    const timer = setTimeout(() => socket.destroy(), INPUT_MS)
    socket.on('connect', () => socket.end(bytes))
    socket.on('data', () => undefined)
    socket.on('error', () => undefined)
    socket.on('close', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

/** `bytes` over TLS with ALPN `alpn`; with `preface`, after the HTTP/2 preface and SETTINGS. */
function sendTls(
  port: number,
  ca: string,
  alpn: 'h2' | 'http/1.1',
  bytes: Buffer,
  preface = alpn === 'h2',
): Promise<void> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      servername: EDGE_HOST,
      ca,
      ALPNProtocols: [alpn],
    })
    const timer = setTimeout(() => socket.destroy(), INPUT_MS)
    socket.on('secureConnect', () =>
      socket.write(preface ? Buffer.concat([PREFACE, settingsFrame(), bytes]) : bytes),
    )
    socket.on('data', () => undefined)
    socket.on('error', () => undefined)
    socket.on('close', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

/** The first flight a real client sends (a ClientHello for EDGE_HOST offering h2). */
async function captureClientHello(): Promise<Buffer> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      server.once('connection', (s) => {
        s.once('data', (d: Buffer) => {
          resolve(d)
          s.destroy()
        })
      })
      const c = tlsConnect({
        host: '127.0.0.1',
        port,
        servername: EDGE_HOST,
        ALPNProtocols: ['h2'],
      })
      c.on('error', () => undefined)
      setTimeout(() => reject(new Error('no ClientHello')), 5000).unref()
    })
  } finally {
    server.close()
  }
}

describe('fuzzing the listeners of a running gateway (e2e)', () => {
  let edge: EdgeGateway

  before(async () => {
    edge = await startEdgeGateway()
  })

  after(async () => {
    await edge?.close()
  })

  /** Sends the inputs in batches; after each batch the gateway must be alive and serving. */
  async function fuzz(
    name: string,
    inputs: readonly Buffer[],
    send: (b: Buffer) => Promise<void>,
  ): Promise<void> {
    for (let i = 0; i < inputs.length; i += BATCH) {
      const batch = inputs.slice(i, i + BATCH)
      await Promise.all(batch.map(send))
      try {
        assert.equal(edge.gw.proc.exitCode, null, 'the gateway process exited')
        await edge.canary()
      } catch (err) {
        const hex = batch.map((b) => b.toString('hex')).join('\n  ')
        assert.fail(
          `${name}: after inputs ${i}..${i + batch.length - 1} (seed ${SEED}): ${String(err)}\n  ${hex}`,
        )
      }
    }
  }

  test(`HTTP/1.1: ${RUNS} random and mutated requests on the plain port`, async () => {
    const inputs = fc.sample(h1Input, { seed: SEED, numRuns: RUNS })
    await fuzz('HTTP/1.1', inputs, (b) => sendTcp(edge.plainPort, b))
  })

  test(`HTTP/1.1 over TLS: ${RUNS} random and mutated requests after ALPN http/1.1`, async () => {
    const inputs = fc.sample(h1Input, { seed: SEED + 1, numRuns: RUNS })
    await fuzz('HTTP/1.1 over TLS', inputs, (b) =>
      sendTls(edge.tlsPort, edge.ca.cert, 'http/1.1', b),
    )
  })

  test(`HTTP/2: ${RUNS} random frame sequences over TLS with ALPN h2`, async () => {
    const inputs = fc.sample(h2Input, { seed: SEED + 2, numRuns: RUNS })
    await fuzz('HTTP/2', inputs, (b) => sendTls(edge.tlsPort, edge.ca.cert, 'h2', b))
  })

  test(`ALPN h2 without a preface: ${RUNS} random and mutated HTTP/1.1 requests`, async () => {
    const inputs = fc.sample(h1Input, { seed: SEED + 4, numRuns: RUNS })
    await fuzz('ALPN h2, no preface', inputs, (b) =>
      sendTls(edge.tlsPort, edge.ca.cert, 'h2', b, false),
    )
  })

  test(`TLS: ${RUNS} random and mutated records on the TLS port`, async () => {
    const hello = await captureClientHello()
    const record = fc
      .tuple(fc.integer({ min: 0x14, max: 0x18 }), fc.uint8Array({ maxLength: 300 }))
      .map(([type, body]) => {
        const head = Buffer.from([type, 0x03, 0x01, 0, 0])
        head.writeUInt16BE(body.length, 3)
        return Buffer.concat([head, Buffer.from(body)])
      })
    const inputs = fc.sample(fc.oneof(mutated([hello]), record, randomBytes(600)), {
      seed: SEED + 3,
      numRuns: RUNS,
    })
    await fuzz('TLS', inputs, (b) => sendTcp(edge.tlsPort, b))
  })
})
