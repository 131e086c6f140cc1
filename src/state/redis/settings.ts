/** Where the shared limit store lives and how to reach it (`GatewayConfig.spec.redis`). */

export interface RedisEndpoint {
  readonly host: string
  readonly port: number
}

/** PEM contents (not paths: the caller reads the files, as for every other certificate). */
export interface RedisTlsSettings {
  readonly ca?: string | Buffer
  readonly cert?: string | Buffer
  readonly key?: string | Buffer
  /** SNI and the name the server certificate is checked against. Default: the host. */
  readonly servername?: string
}

/** Exactly one of `url`, `sentinels` (with `name`) or `cluster`. */
export interface RedisSettings {
  /** `redis://[user:password@]host:port/db`, or `rediss://` for TLS. */
  readonly url?: string
  readonly sentinels?: readonly RedisEndpoint[]
  /** The Sentinel master group name. */
  readonly name?: string
  readonly cluster?: readonly RedisEndpoint[]
  readonly username?: string
  readonly password?: string
  /** TLS to Redis (and to the Sentinels). `rediss://` turns it on with the defaults. */
  readonly tls?: RedisTlsSettings
  /** Prepended to every key. Default `portcullis:`. */
  readonly keyPrefix?: string
  /**
   * Longest wait for a rate decision's reply, ms; later ones are decided locally for that
   * request. Default 50.
   */
  readonly commandTimeout?: number
  /**
   * Longest wait for a lease (acquire) or any other call, ms: well above a GC pause or a slow
   * command, so a hiccup delays connections instead of admitting them locally. Default 500
   * (never below commandTimeout).
   */
  readonly leaseDeadline?: number
  /** How long a replica that stopped beating still counts as a member, ms. Default 10 000. */
  readonly membershipTtlMs?: number
  /** Longest wait for a TCP/TLS connection, ms. Default 500. */
  readonly connectTimeout?: number
}

export const DEFAULT_KEY_PREFIX = 'portcullis:'
export const DEFAULT_COMMAND_TIMEOUT_MS = 50
export const DEFAULT_CONNECT_TIMEOUT_MS = 500
export const DEFAULT_LEASE_DEADLINE_MS = 500
export const DEFAULT_MEMBERSHIP_TTL_MS = 10_000

/** The lease deadline in effect: the setting or its default, never below commandTimeout. */
export function leaseDeadlineMs(settings: RedisSettings): number {
  return Math.max(
    settings.commandTimeout ?? DEFAULT_COMMAND_TIMEOUT_MS,
    settings.leaseDeadline ?? DEFAULT_LEASE_DEADLINE_MS,
  )
}

export type RedisTarget =
  | {
      readonly mode: 'standalone'
      readonly host: string
      readonly port: number
      readonly db: number
      readonly tls: boolean
      readonly username: string | undefined
      readonly password: string | undefined
    }
  | {
      readonly mode: 'sentinel'
      readonly sentinels: readonly RedisEndpoint[]
      readonly name: string
    }
  | { readonly mode: 'cluster'; readonly nodes: readonly RedisEndpoint[] }

/** Which deployment the settings describe; throws with a readable message when they are unusable. */
export function resolveRedisTarget(settings: RedisSettings): RedisTarget {
  const given = [
    settings.url !== undefined,
    settings.sentinels !== undefined,
    settings.cluster !== undefined,
  ].filter(Boolean).length
  if (given !== 1) {
    throw new Error('redis: set exactly one of url, sentinels (with name) or cluster')
  }
  checkTimeout('commandTimeout', settings.commandTimeout)
  checkTimeout('connectTimeout', settings.connectTimeout)
  checkTimeout('leaseDeadline', settings.leaseDeadline)
  checkTimeout('membershipTtlMs', settings.membershipTtlMs)
  if (settings.url !== undefined) return parseRedisUrl(settings.url)
  if (settings.sentinels !== undefined) {
    if (settings.name === undefined || settings.name === '') {
      throw new Error('redis: sentinels need the master group name (name)')
    }
    checkEndpoints('sentinels', settings.sentinels)
    return { mode: 'sentinel', sentinels: settings.sentinels, name: settings.name }
  }
  checkEndpoints('cluster', settings.cluster ?? [])
  return { mode: 'cluster', nodes: settings.cluster ?? [] }
}

function parseRedisUrl(raw: string): RedisTarget {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new Error(`redis: url is not a URL: ${raw}`)
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new Error(`redis: url must start with redis:// or rediss://, got ${url.protocol}//`)
  }
  if (url.hostname === '') throw new Error('redis: url has no host')
  const path = url.pathname.replace(/^\//, '')
  const db = path === '' ? 0 : Number(path)
  if (!Number.isInteger(db) || db < 0)
    throw new Error(`redis: url database must be a number: ${path}`)
  return {
    mode: 'standalone',
    // URL keeps IPv6 literals in brackets; sockets want them bare.
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? 6379 : Number(url.port),
    db,
    tls: url.protocol === 'rediss:',
    username: url.username === '' ? undefined : decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
  }
}

function checkEndpoints(field: string, endpoints: readonly RedisEndpoint[]): void {
  if (endpoints.length === 0) throw new Error(`redis: ${field} needs at least one host:port`)
  for (const e of endpoints) {
    if (e.host === '' || !Number.isInteger(e.port) || e.port < 1 || e.port > 65535) {
      throw new Error(`redis: ${field} has a bad endpoint ${e.host}:${e.port}`)
    }
  }
}

function checkTimeout(field: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
    throw new Error(`redis: ${field} must be a positive integer of ms, got ${value}`)
  }
}
