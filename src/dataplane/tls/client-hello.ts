/**
 * Reads the SNI and ALPN list from the first bytes of a TLS connection, without terminating it
 * (ecosystem.md §2: we own the listener). Only what choosing a filter chain needs is parsed;
 * everything is bounds-checked, and a malformed hello is `invalid`, never an exception.
 */

export interface ClientHello {
  /** Lower-case, undefined when the client sent no server_name. */
  readonly serverName: string | undefined
  readonly alpn: readonly string[]
}

/** Largest ClientHello we wait for (a TLS record is at most 16 KiB + header). */
export const MAX_HELLO_BYTES = 16 * 1024 + 5

export type HelloResult =
  | { readonly kind: 'hello'; readonly hello: ClientHello }
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'invalid'; readonly reason: string }

const INCOMPLETE: HelloResult = { kind: 'incomplete' }

function invalid(reason: string): HelloResult {
  return { kind: 'invalid', reason }
}

/** `data` is everything received so far. The hello must fit in the first record. */
export function parseClientHello(data: Buffer): HelloResult {
  if (data.length < 5) return data.length > 0 && data[0] !== 0x16 ? invalid('not TLS') : INCOMPLETE
  if (data[0] !== 0x16) return invalid('not TLS')
  const recordLength = data.readUInt16BE(3)
  if (recordLength > MAX_HELLO_BYTES - 5) return invalid('record too large')
  if (data.length < 5 + recordLength) return INCOMPLETE
  const body = data.subarray(5, 5 + recordLength)
  if (body.length < 4 || body[0] !== 0x01) return invalid('not a ClientHello')
  const helloLength = body.readUIntBE(1, 3)
  // A hello split over several records is legal but unseen in practice; refuse it.
  if (helloLength + 4 > body.length) return invalid('ClientHello spans records')
  let p = 4 + 2 + 32 // version, random
  const end = 4 + helloLength
  if (p + 1 > end) return invalid('truncated')
  p += 1 + body[p]! // session id
  if (p + 2 > end) return invalid('truncated')
  p += 2 + body.readUInt16BE(p) // cipher suites
  if (p + 1 > end) return invalid('truncated')
  p += 1 + body[p]! // compression methods
  let serverName: string | undefined
  const alpn: string[] = []
  if (p + 2 > end) return { kind: 'hello', hello: { serverName, alpn } }
  const extEnd = p + 2 + body.readUInt16BE(p)
  p += 2
  if (extEnd > end) return invalid('truncated extensions')
  while (p + 4 <= extEnd) {
    const type = body.readUInt16BE(p)
    const len = body.readUInt16BE(p + 2)
    const start = p + 4
    p = start + len
    if (p > extEnd) return invalid('truncated extension')
    if (type === 0x0000) {
      // server_name_list: u16 length, then (u8 type, u16 length, name)*
      let q = start + 2
      while (q + 3 <= p) {
        const nameType = body[q]!
        const nameLen = body.readUInt16BE(q + 1)
        const nameStart = q + 3
        q = nameStart + nameLen
        if (q > p) return invalid('truncated server_name')
        if (nameType === 0 && serverName === undefined) {
          serverName = body.toString('latin1', nameStart, q).toLowerCase()
        }
      }
    } else if (type === 0x0010) {
      let q = start + 2
      while (q + 1 <= p) {
        const l = body[q]!
        const s = q + 1
        q = s + l
        if (q > p) return invalid('truncated alpn')
        alpn.push(body.toString('latin1', s, q))
      }
    }
  }
  return { kind: 'hello', hello: { serverName, alpn } }
}
