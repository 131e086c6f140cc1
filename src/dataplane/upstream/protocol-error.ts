import { errors as undiciErrors } from './undici.js'

/**
 * Whether an attempt failed because the upstream's response broke the protocol (Envoy's
 * UpstreamProtocolError, 502 UPE) rather than because the connection went away:
 * - HTTP/1.1: undici's parser rejected the bytes (garbage, an invalid status line or header),
 *   or the framing contradicted itself (Content-Length with Transfer-Encoding, `5, 6`);
 * - HTTP/2: nghttp2 rejected the session (the peer does not speak HTTP/2, a bad frame) or
 *   closed the stream with PROTOCOL_ERROR, COMPRESSION_ERROR or FRAME_SIZE_ERROR (a response
 *   without `:status`, an upper-case header name). Node does not say which side sent that
 *   RST_STREAM, so a peer's PROTOCOL_ERROR reset counts too (Envoy logs that one as UR).
 * Only meaningful before response headers: after them every failure is a truncated response.
 */
export function isUpstreamProtocolError(err: unknown): boolean {
  if (err instanceof undiciErrors.HTTPParserError) return true
  if (err instanceof undiciErrors.ResponseContentLengthMismatchError) return true
  const e = err as { code?: unknown; message?: unknown } | null
  if (e === null || typeof e !== 'object') return false
  if (e.code === 'ERR_HTTP2_ERROR') return true
  return (
    (e.code === 'ERR_HTTP2_STREAM_ERROR' || e.code === 'ERR_HTTP2_SESSION_ERROR') &&
    typeof e.message === 'string' &&
    H2_PROTOCOL_CODES.test(e.message)
  )
}

const H2_PROTOCOL_CODES = /NGHTTP2_(PROTOCOL|COMPRESSION|FRAME_SIZE)_ERROR/
