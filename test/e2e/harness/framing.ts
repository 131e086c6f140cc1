// HTTP/1.x message framing shared by the raw upstream (requests) and the raw client (responses).
// Deliberately strict: anything ambiguous is an error rather than a guess.

export const CRLF = Buffer.from('\r\n')
export const HEAD_END = Buffer.from('\r\n\r\n')
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const HEX = /^[0-9A-Fa-f]{1,16}$/

export type HeaderList = Array<[string, string]>

export function headerValues(headers: HeaderList, name: string): string[] {
  return headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v)
}

// Header lines (after the start line) as [name, value] in wire order, or an error.
export function parseHeaderLines(lines: string[]): HeaderList | { error: string } {
  const headers: HeaderList = []
  for (const line of lines) {
    const colon = line.indexOf(':')
    const name = colon > 0 ? line.slice(0, colon) : ''
    if (!TOKEN.test(name)) return { error: `bad header line ${JSON.stringify(line)}` }
    headers.push([name, line.slice(colon + 1).trim()])
  }
  return headers
}

// The end of a chunked body starting at `start` (its data pieces pushed to `body`),
// 'incomplete', or an error message.
export function frameChunked(
  buf: Buffer,
  start: number,
  body: Buffer[],
): number | 'incomplete' | { error: string } {
  let pos = start
  // Each pass consumes at least one CRLF-terminated line, so the loop ends within buf.length.
  for (let guard = 0; guard <= buf.length; guard++) {
    const lineEnd = buf.indexOf(CRLF, pos)
    if (lineEnd < 0) return 'incomplete'
    const sizeText = buf.subarray(pos, lineEnd).toString('latin1').split(';')[0] ?? ''
    if (!HEX.test(sizeText)) return { error: `bad chunk size ${JSON.stringify(sizeText)}` }
    const size = parseInt(sizeText, 16)
    pos = lineEnd + 2
    if (size === 0) {
      // Trailer section: header lines until an empty line.
      for (let t = 0; t <= buf.length; t++) {
        const end = buf.indexOf(CRLF, pos)
        if (end < 0) return 'incomplete'
        const isEmpty = end === pos
        pos = end + 2
        if (isEmpty) return pos
      }
      return 'incomplete'
    }
    if (buf.length < pos + size + 2) return 'incomplete'
    body.push(buf.subarray(pos, pos + size))
    if (!buf.subarray(pos + size, pos + size + 2).equals(CRLF)) {
      return { error: 'chunk data not followed by CRLF' }
    }
    pos += size + 2
  }
  return 'incomplete'
}

// The single Content-Length value, undefined when absent, or an error when values disagree.
export function contentLength(headers: HeaderList): number | undefined | { error: string } {
  const values = headerValues(headers, 'content-length')
  if (values.length === 0) return undefined
  const distinct = new Set(values.flatMap((v) => v.split(',').map((x) => x.trim())))
  const [value] = distinct
  if (distinct.size !== 1 || value === undefined || !/^\d{1,15}$/.test(value)) {
    return { error: `bad content-length ${values.join(', ')}` }
  }
  return Number(value)
}

// True when the last transfer coding is chunked; an error for any other coding.
export function isChunked(headers: HeaderList): boolean | { error: string } {
  const te = headerValues(headers, 'transfer-encoding')
  if (te.length === 0) return false
  const codings = te
    .join(',')
    .split(',')
    .map((c) => c.trim().toLowerCase())
  if (codings.at(-1) !== 'chunked')
    return { error: `transfer-encoding not chunked: ${te.join(',')}` }
  return true
}
