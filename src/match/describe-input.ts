/**
 * A described request from what a user types: a curl-like URL and/or `--host`, `--path`,
 * `--port`, `--sni`, headers. Shared by `portcullis describe` and the admin `/describe`, so the
 * two read a request the same way. The URL is split by hand, not with `new URL()`: WHATWG URL
 * parsing resolves `..` and decodes escapes, which would hide exactly what normalization does.
 */
import type { DescribeInput } from './describe.js'

export interface DescribeRequestText {
  readonly url?: string
  readonly method?: string
  readonly host?: string
  readonly path?: string
  /** `name: value` lines; `Host:` sets the authority as curl -H does. */
  readonly headers?: readonly string[]
  readonly port?: string
  readonly sni?: string
  readonly sourceIp?: string
}

export function parseDescribeInput(t: DescribeRequestText): DescribeInput | string {
  let scheme = 'http'
  let authority: string | undefined
  let target = '/'
  if (t.url !== undefined) {
    const m = /^(https?):\/\/([^/?#]*)([^#]*)/i.exec(t.url)
    if (m === null) return `not an http(s) URL: "${t.url}"`
    scheme = m[1]!.toLowerCase()
    authority = m[2]!
    target = m[3] === '' || m[3] === undefined ? '/' : m[3]
    if (target.startsWith('?')) target = `/${target}`
  }
  if (t.path !== undefined) target = t.path.startsWith('/') ? t.path : `/${t.path}`
  const headers: Record<string, string> = {}
  for (const line of t.headers ?? []) {
    const colon = line.indexOf(':')
    if (colon <= 0) return `a header is "name: value", not "${line}"`
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    if (name === 'host') authority = value
    else headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`
  }
  if (t.host !== undefined) authority = t.host
  if (authority === undefined) return 'give a URL, --host or a Host header'
  let port = scheme === 'https' ? 443 : 80
  const urlPort = /:(\d+)$/.exec(authority)?.[1]
  if (urlPort !== undefined) port = Number(urlPort)
  if (t.port !== undefined) port = Number(t.port)
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `not a port: "${t.port ?? ''}"`
  let sni = t.sni
  // As curl does: an https URL sends its host name as SNI unless told otherwise.
  if (sni === undefined && scheme === 'https' && t.url !== undefined) {
    const urlHost = /^(https?):\/\/([^/?#:]*)/i.exec(t.url)?.[2]
    if (urlHost !== undefined && urlHost !== '' && !/^[\d.]+$/.test(urlHost)) sni = urlHost
  }
  return {
    method: (t.method ?? 'GET').toUpperCase(),
    authority,
    target,
    port,
    ...(sni !== undefined ? { sni } : {}),
    headers,
    ...(t.sourceIp !== undefined ? { sourceIp: t.sourceIp } : {}),
  }
}
