/**
 * HTTP/2 abuse a server must end itself, and the words metrics and logs use for it.
 *
 * Node (nghttp2) already ends sessions on most floods — SETTINGS and PING floods (outbound ACK
 * queue), CONTINUATION floods, invalid frames over maxSessionInvalidFrames, streams refused over
 * maxSessionRejectedStreams — by destroying the session, which closes the connection. Rapid
 * reset (CVE-2023-44487: HEADERS then RST_STREAM, over and over) is different: nghttp2's own
 * reset rate limit queues a GOAWAY and stops reading, but Node is never told, so the TCP
 * connection stays open until the idle timeout. Every reset stream also started a request
 * upstream. PING and SETTINGS floods from a client that reads its ACKs are not refused at all. So rapid reset is detected here, the way Envoy does it (its premature-reset check:
 * more than half of at least 500 streams reset by the client within 1 s of opening), before
 * nghttp2's limit (1000 resets) is reached, and the session is destroyed with GOAWAY
 * ENHANCE_YOUR_CALM.
 */
import type { ServerHttp2Session, ServerHttp2Stream } from 'node:http2'

/** A stream reset by the client sooner than this after it opened is a premature reset. */
const PREMATURE_RESET_MS = 1000
/** Premature resets are judged once a session has opened this many streams (Envoy's default). */
const PREMATURE_RESET_MIN_STREAMS = 500

export const H2_ENHANCE_YOUR_CALM = 0xb

/** Calls `onAbuse` once when the client resets most of its streams prematurely. */
export function watchRapidReset(session: ServerHttp2Session, onAbuse: () => void): void {
  let streams = 0
  let premature = 0
  let isReported = false
  const onPremature = (): void => {
    premature++
    if (!isReported && streams >= PREMATURE_RESET_MIN_STREAMS && premature * 2 > streams) {
      isReported = true
      onAbuse()
    }
  }
  session.on('stream', (stream: ServerHttp2Stream) => {
    streams++
    // HEADERS and RST_STREAM that arrive in one read reach us as a stream already reset.
    if (stream.closed && stream.rstCode !== 0) {
      onPremature()
      return
    }
    const openedAt = performance.now()
    // 'aborted': the stream closed while our response was still open (a client RST_STREAM).
    stream.once('aborted', () => {
      if (performance.now() - openedAt < PREMATURE_RESET_MS) onPremature()
    })
  })
}

/**
 * PING and SETTINGS frames a client may send per window. Clients send a handful (keep-alive
 * pings, a SETTINGS change); each one costs an ACK. nghttp2 only objects when ACKs pile up
 * unsent, which a client that reads them never causes.
 */
const CONTROL_FRAMES_PER_WINDOW = 1000
const CONTROL_WINDOW_MS = 10_000

/** Calls `onAbuse` once when the client floods PING or SETTINGS frames. */
export function watchControlFlood(
  session: ServerHttp2Session,
  onAbuse: (reason: 'h2_ping_flood' | 'h2_settings_flood') => void,
): void {
  let windowStart = performance.now()
  let pings = 0
  let settings = 0
  let isReported = false
  const count = (kind: 'ping' | 'settings'): void => {
    if (isReported) return
    const now = performance.now()
    if (now - windowStart >= CONTROL_WINDOW_MS) {
      windowStart = now
      pings = 0
      settings = 0
    }
    const seen = kind === 'ping' ? ++pings : ++settings
    if (seen > CONTROL_FRAMES_PER_WINDOW) {
      isReported = true
      onAbuse(kind === 'ping' ? 'h2_ping_flood' : 'h2_settings_flood')
    }
  }
  session.on('ping', () => count('ping'))
  session.on('remoteSettings', () => count('settings'))
}

/** nghttp2 error numbers (nghttp2.h) Node reports on ERR_HTTP2_ERROR, as metric reasons. */
const NGHTTP2_REASONS: ReadonlyMap<number, string> = new Map([
  [-903, 'h2_bad_preface'],
  [-904, 'h2_flood'],
  [-905, 'h2_continuation_flood'],
  [-902, 'h2_too_many_invalid'],
  [-527, 'h2_settings_flood'],
  [-537, 'h2_settings_flood'],
  [-536, 'h2_settings_expected'],
  [-522, 'h2_frame_size_error'],
  [-523, 'h2_compression_error'],
  [-524, 'h2_flow_control_error'],
])

/** Errors that only say the peer went away: no error of the connection worth a line. */
const PEER_GONE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE'])

/** The reason for an HTTP/2 session 'error', or undefined when the peer merely went away. */
export function sessionErrorReason(err: unknown): string | undefined {
  const e = err as { code?: unknown; errno?: unknown } | null
  const code = typeof e?.code === 'string' ? e.code : undefined
  if (code !== undefined && PEER_GONE.has(code)) return undefined
  if (code === 'ERR_HTTP2_ERROR') {
    return (
      (typeof e?.errno === 'number' ? NGHTTP2_REASONS.get(e.errno) : undefined) ??
      'h2_protocol_error'
    )
  }
  // The client sent GOAWAY with an error code.
  if (code === 'ERR_HTTP2_SESSION_ERROR') return 'h2_peer_error'
  if (code?.startsWith('ERR_SSL') === true) return 'tls_error'
  return 'h2_session_error'
}
