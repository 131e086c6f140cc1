/**
 * Why the listener refused a request before routing it. Every rejection is a local reply with
 * `Connection: close`, recorded with flag DPE and `responseCodeDetails` set to `details` (Envoy's
 * `reason{detail}` style, Envoy's own names where it has one). hardening.md §1.3 and §2.3.
 */
export interface Rejection {
  readonly status: number
  readonly details: string
}

function rejection(status: number, details: string): Rejection {
  return Object.freeze({ status, details })
}

export const REJECT = Object.freeze({
  tooManyHeaders: rejection(431, 'http1.too_many_headers'),
  headersTooLarge: rejection(431, 'http1.headers_too_large'),
  unsupportedVersion: rejection(505, 'http1.unsupported_http_version'),
  missingHost: rejection(400, 'http.missing_host_header'),
  duplicateHost: rejection(400, 'http1.multiple_host_headers'),
  fragment: rejection(400, 'http.fragment_in_url_path'),
  invalidTarget: rejection(400, 'http1.invalid_url'),
  hostMismatch: rejection(400, 'http1.absolute_url_host_mismatch'),
  // Host or :authority that is not `host[:port]` (a space, a slash, userinfo, non-ASCII).
  invalidAuthority: rejection(400, 'http.invalid_authority'),
  // Longer than downstream.maxUriBytes (nginx's large_client_header_buffers answer).
  uriTooLong: rejection(414, 'http.uri_too_long'),
  // `%00` in the path (Envoy's normalize_path refuses it).
  pathNormalizationFailed: rejection(400, 'path_normalization_failed'),
  // A `..;` or `.;` segment: a dot segment to servlet containers, which drop `;` parameters.
  dotSemicolonSegment: rejection(400, 'http.dot_semicolon_segment'),
  underscore: rejection(400, 'http.unexpected_underscore'),
  // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
  transferEncodingHttp10: rejection(400, 'http1.transfer_encoding_in_http10'),
  contentLengthAndChunked: rejection(400, 'http1.content_length_and_chunked_not_allowed'),
  // Several TE lines, empty list members, a final coding other than chunked (RFC 9112 §6.3).
  invalidTransferEncoding: rejection(400, 'http1.invalid_transfer_encoding'),
  // Final coding is chunked but others precede it (`gzip, chunked`): codings we do not implement.
  unsupportedTransferEncoding: rejection(501, 'http1.unsupported_transfer_encoding'),
  h2cUpgrade: rejection(400, 'http1.h2c_upgrade_not_allowed'),
  expectationFailed: rejection(417, 'http1.unsupported_expect'),
  connectNotAllowed: rejection(405, 'http1.connect_not_allowed'),
  requestHeaderTimeout: rejection(408, 'request_header_timeout'),
  // requestTimeout passed with the head received: the body did not arrive in time (Envoy's name).
  requestTimeout: rejection(408, 'request_overall_timeout'),
  chunkExtensionsTooLarge: rejection(413, 'http1.chunk_extensions_too_large'),
})

/** A malformed message rejected by Node's parser (llhttp), named by its error code. */
export function codecError(code: string | undefined): Rejection {
  return rejection(400, `http1.codec_error{${code ?? 'unknown'}}`)
}
