import type * as ir from '../../ir/index.js'
import { findQueryParam } from '../../match/index.js'
import { hashString } from '../upstream/balancer.js'
import type { RequestContext } from './context.js'
import { trustedClientAddress } from './forwarded.js'

/**
 * The request's consistent-hash key, hashed; undefined when the request has none (the balancer
 * then picks at random). A cookie policy with a TTL issues the cookie when it is missing, as
 * Envoy does, so the client sticks from its next request on.
 */
export function requestHash(ctx: RequestContext, key: ir.HashKey): number | undefined {
  switch (key.kind) {
    case 'header': {
      const v = ctx.header(key.name)
      return v === undefined ? undefined : hashString(v)
    }
    case 'query': {
      const v = findQueryParam(ctx.query, key.name)
      return v === undefined ? undefined : hashString(v)
    }
    case 'source-ip': {
      const xff = ctx.header('x-forwarded-for')
      return hashString(trustedClientAddress(xff, ctx.peer, ctx.prepared.numTrustedProxies))
    }
    case 'cookie': {
      const v = cookieValue(ctx.req.headers.cookie, key.name)
      if (v !== undefined) return hashString(v)
      if (key.ttlMs === undefined) return undefined
      const issued = issueCookieValue()
      const attrs = [`${key.name}="${issued}"`]
      if (key.ttlMs > 0) attrs.push(`Max-Age=${Math.floor(key.ttlMs / 1000)}`)
      if (key.path !== undefined) attrs.push(`Path=${key.path}`)
      attrs.push('HttpOnly')
      ;(ctx.extraResponseHeaders ??= []).push('set-cookie', attrs.join('; '))
      return hashString(issued)
    }
  }
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue
    let v = part.slice(eq + 1).trim()
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1)
    return v
  }
  return undefined
}

function issueCookieValue(): string {
  const a = Math.floor(Math.random() * 0x100000000)
  const b = Math.floor(Math.random() * 0x100000000)
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0')
}
