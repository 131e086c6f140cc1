// The PROXY header parser against headers built by an independent implementation
// (proxy-protocol-js, dev-only), then fuzzed: arbitrary bytes, truncations and corruptions must
// give a bounded, well-formed answer and never a header that claims more than it read.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import * as oracle from 'proxy-protocol-js'
import { parseIp } from '../../lib/index.js'
import {
  parseProxyHeader,
  PP2_TYPE_AUTHORITY,
  PP2_TYPE_AWS,
  V1_MAX_BYTES,
  V2_MAX_BYTES,
} from './proxy-protocol.js'

const RUNS = { seed: 20261201, numRuns: 400 }

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255))
const ipv6 = fc.array(fc.nat(255), { minLength: 16, maxLength: 16 })
const port = fc.nat(65535)
const payload = fc.uint8Array({ maxLength: 64 })
const tlv = fc.record({ type: fc.nat(255), value: fc.uint8Array({ maxLength: 40 }) })

function sameAddress(text: string | undefined, bytes: readonly number[]): boolean {
  if (text === undefined) return false
  const parsed = parseIp(text)
  if (parsed === undefined) return false
  const want = bytes.length === 16 && isMapped(bytes) ? bytes.slice(12) : bytes
  return parsed.bytes.length === want.length && parsed.bytes.every((b, i) => b === want[i])
}

function isMapped(b: readonly number[]): boolean {
  return b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff
}

function encodeTlvs(tlvs: readonly { type: number; value: Uint8Array }[]): Buffer {
  return Buffer.concat(
    tlvs.map((t) => {
      const head = Buffer.from([t.type, t.value.length >> 8, t.value.length & 0xff])
      return Buffer.concat([head, t.value])
    }),
  )
}

/**
 * The oracle builds the fixed part and addresses; its `data` is payload after the header (the
 * length it writes covers the addresses only), so TLVs are appended here and counted in.
 */
function v2(src: number[], sp: number, dst: number[], dp: number, tlvs?: Buffer): Buffer {
  const address =
    src.length === 4
      ? new oracle.IPv4ProxyAddress(
          oracle.IPv4Address.createFrom(src),
          sp,
          oracle.IPv4Address.createFrom(dst),
          dp,
        )
      : new oracle.IPv6ProxyAddress(
          oracle.IPv6Address.createFrom(src),
          sp,
          oracle.IPv6Address.createFrom(dst),
          dp,
        )
  const proto = new oracle.V2ProxyProtocol(
    oracle.Command.PROXY,
    oracle.TransportProtocol.STREAM,
    address,
  )
  const built = Buffer.from(proto.build())
  if (tlvs === undefined || tlvs.length === 0) return built
  const out = Buffer.concat([built, tlvs])
  out.writeUInt16BE(built.readUInt16BE(14) + tlvs.length, 14)
  return out
}

describe('PROXY protocol v1', () => {
  test('oracle-built TCP4 headers parse to their addresses; the payload after them is left', () => {
    fc.assert(
      fc.property(ipv4, port, ipv4, port, payload, (src, sp, dst, dp, rest) => {
        const text = new oracle.V1ProxyProtocol(
          oracle.INETProtocol.TCP4,
          new oracle.Peer(src.join('.'), sp),
          new oracle.Peer(dst.join('.'), dp),
        ).build()
        const header = Buffer.from(text, 'latin1')
        const r = parseProxyHeader(Buffer.concat([header, rest]))
        assert.equal(r.kind, 'header')
        if (r.kind !== 'header') return
        assert.equal(r.length, header.length)
        assert.equal(r.header.source?.address, src.join('.'))
        assert.equal(r.header.source?.port, sp)
        assert.equal(r.header.destination?.address, dst.join('.'))
        assert.equal(r.header.destination?.port, dp)
        assert.ok(r.length <= V1_MAX_BYTES)
      }),
      RUNS,
    )
  })

  test('TCP6 headers, compressed or not, give the address Node would report', () => {
    const r = parseProxyHeader(Buffer.from('PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 443 8443\r\nGET'))
    assert.equal(r.kind, 'header')
    if (r.kind !== 'header') return
    assert.equal(r.header.source?.address, '2001:db8::1')
    assert.equal(r.header.source?.family, 'IPv6')
    assert.equal(r.header.destination?.address, '::1')
    const mapped = parseProxyHeader(Buffer.from('PROXY TCP6 ::ffff:10.1.2.3 ::1 1 2\r\n'))
    assert.equal(mapped.kind === 'header' && mapped.header.source?.address, '::ffff:10.1.2.3')
  })

  test('UNKNOWN keeps the connection addresses', () => {
    const r = parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ::1 1 2\r\nrest'))
    assert.deepEqual(r.kind === 'header' && [r.header.proxied, r.length], [false, 31])
  })

  test('every truncation of a valid header is incomplete, never a header', () => {
    const full = Buffer.from('PROXY TCP4 198.51.100.22 203.0.113.7 35646 80\r\n')
    for (let n = 1; n < full.length; n++) {
      assert.equal(parseProxyHeader(full.subarray(0, n)).kind, 'incomplete', `${n} bytes`)
    }
  })

  test('malformed lines are invalid', () => {
    for (const line of [
      'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', // LF without CR
      'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', // a field missing
      'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n', // one too many
      'PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n',
      'PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n', // leading zero
      'PROXY TCP4 ::1 ::1 1 2\r\n', // v6 under TCP4
      'PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n',
      'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n',
      'PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n',
      'PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n', // two spaces
      'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n',
      'PROXY\r\n',
      'PROXX TCP4 1.2.3.4 5.6.7.8 1 2\r\n',
      'GET / HTTP/1.1\r\n',
    ]) {
      assert.equal(parseProxyHeader(Buffer.from(line)).kind, 'invalid', JSON.stringify(line))
    }
  })

  test('a line without CRLF within 107 bytes is invalid, not incomplete', () => {
    const long = Buffer.from('PROXY TCP4 ' + '1'.repeat(200))
    assert.equal(parseProxyHeader(long.subarray(0, V1_MAX_BYTES - 1)).kind, 'incomplete')
    assert.equal(parseProxyHeader(long.subarray(0, V1_MAX_BYTES)).kind, 'invalid')
  })
})

describe('PROXY protocol v2', () => {
  test('oracle-built IPv4 and IPv6 headers with TLVs: addresses, TLVs and length', () => {
    const family = fc.oneof(
      fc.tuple(ipv4, ipv4).map(([a, b]) => [a as number[], b as number[]] as const),
      fc.tuple(ipv6, ipv6).map(([a, b]) => [a, b] as const),
    )
    fc.assert(
      fc.property(
        family,
        port,
        port,
        fc.array(tlv, { maxLength: 6 }),
        payload,
        ([src, dst], sp, dp, tlvs, rest) => {
          const header = v2(src, sp, dst, dp, encodeTlvs(tlvs))
          const r = parseProxyHeader(Buffer.concat([header, rest]))
          assert.equal(r.kind, 'header')
          if (r.kind !== 'header') return
          assert.equal(r.length, header.length)
          assert.equal(r.header.version, 2)
          assert.ok(sameAddress(r.header.source?.address, src), `${r.header.source?.address}`)
          assert.ok(sameAddress(r.header.destination?.address, dst))
          assert.equal(r.header.source?.port, sp)
          assert.equal(r.header.destination?.port, dp)
          assert.deepEqual(
            r.header.tlvs.map((t) => [t.type, [...t.value]]),
            tlvs.map((t) => [t.type, [...t.value]]),
          )
        },
      ),
      RUNS,
    )
  })

  test('every truncation is incomplete; a TLV that overruns the length is invalid', () => {
    const tlvs = encodeTlvs([
      { type: PP2_TYPE_AUTHORITY, value: Buffer.from('api.example.com') },
      { type: PP2_TYPE_AWS, value: Buffer.from('\x01vpce-0123456789abcdef') },
    ])
    const full = v2([192, 0, 2, 9], 4242, [10, 0, 0, 1], 443, tlvs)
    for (let n = 1; n < full.length; n++) {
      assert.equal(parseProxyHeader(full.subarray(0, n)).kind, 'incomplete', `${n} bytes`)
    }
    // Declare one byte fewer than the TLVs take: the last TLV runs past the header.
    const short = Buffer.from(full)
    short.writeUInt16BE(full.readUInt16BE(14) - 1, 14)
    assert.equal(parseProxyHeader(short).kind, 'invalid')
  })

  test('LOCAL and UNSPEC keep the connection addresses; bad version, command, DGRAM are invalid', () => {
    const local = v2([1, 2, 3, 4], 1, [5, 6, 7, 8], 2)
    local[12] = 0x20
    assert.deepEqual(
      (() => {
        const r = parseProxyHeader(local)
        return r.kind === 'header' ? r.header.proxied : r.kind
      })(),
      false,
    )
    const mutate = (at: number, value: number): string => {
      const b = v2([1, 2, 3, 4], 1, [5, 6, 7, 8], 2)
      b[at] = value
      return parseProxyHeader(b).kind
    }
    assert.equal(mutate(12, 0x11), 'invalid') // version 1 in a v2 signature
    assert.equal(mutate(12, 0x22), 'invalid') // command 2
    assert.equal(mutate(13, 0x12), 'invalid') // INET over DGRAM
    assert.equal(mutate(13, 0x41), 'invalid') // family 4
    assert.equal(mutate(13, 0x21), 'invalid') // INET6 but only 12 address bytes
    assert.equal(mutate(11, 0x0b), 'invalid') // signature
  })

  test('a declared length over the bound is invalid before its bytes arrive', () => {
    const b = v2([1, 2, 3, 4], 1, [5, 6, 7, 8], 2)
    b.writeUInt16BE(V2_MAX_BYTES, 14)
    assert.equal(parseProxyHeader(b.subarray(0, 16)).kind, 'invalid')
  })
})

describe('PROXY header fuzzing', () => {
  test('arbitrary bytes: no throw, and a header never claims more than was read', () => {
    const headerish = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.concat([Buffer.from('PROXY '), b])),
      fc
        .uint8Array({ maxLength: 300 })
        .map((b) => Buffer.concat([v2([1, 2, 3, 4], 1, [5, 6, 7, 8], 2).subarray(0, 12), b])),
    )
    fc.assert(
      fc.property(headerish, (bytes) => {
        const r = parseProxyHeader(Buffer.from(bytes))
        if (r.kind === 'header') {
          assert.ok(r.length <= bytes.length)
          assert.ok(r.length <= Math.max(V1_MAX_BYTES, V2_MAX_BYTES))
        }
      }),
      { ...RUNS, numRuns: 2000 },
    )
  })

  test('one flipped byte in a valid header: invalid, incomplete, or a header of the same length', () => {
    const base = v2(
      [198, 51, 100, 1],
      5000,
      [10, 0, 0, 1],
      8443,
      encodeTlvs([{ type: 5, value: Buffer.from('id-1') }]),
    )
    fc.assert(
      fc.property(fc.nat(base.length - 1), fc.nat(255), (at, value) => {
        const b = Buffer.from(base)
        b[at] = value
        const r = parseProxyHeader(b)
        if (r.kind === 'header') assert.ok(r.length <= b.length)
      }),
      RUNS,
    )
  })
})
