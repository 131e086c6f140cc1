/** Istio message types shared by several kinds. */
import { checkDnsName, compileRe2 } from '../../lib/index.js'
import {
  custom,
  INVALID,
  int,
  obj,
  port,
  req,
  str,
  num,
  type Ctx,
  type Infer,
  type Path,
} from './dsl.js'

export const MESH_SOURCE =
  'selects mesh workloads by their labels; a standalone gateway has no source workloads, so this condition never matches'

/** An RE2 regex string, checked at load time. */
export function re2(opts: { fullMatch?: boolean } = {}) {
  return str({
    checkCode: 'PC1111',
    check: (v) => {
      const r = compileRe2(v, opts)
      return r.ok ? undefined : `invalid regex "${v}": ${r.reason}`
    },
  })
}

export type StringMatch =
  | { readonly exact: string }
  | { readonly prefix: string }
  | { readonly regex: string }
  | Readonly<Record<string, never>>

/**
 * Istio StringMatch: one of exact, prefix, regex. `{}` (and `regex: "*"`, a quirk Istio keeps)
 * mean "present".
 */
export const stringMatch = custom<StringMatch>(
  { type: 'StringMatch', fields: { exact: str(), prefix: str(), regex: str() } },
  (v, ctx: Ctx, path: Path) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      ctx.issues.push({
        code: 'PC1102',
        path,
        message: 'expected a mapping with exact, prefix or regex',
      })
      return INVALID
    }
    const keys = Object.keys(v)
    for (const k of keys) {
      if (k !== 'exact' && k !== 'prefix' && k !== 'regex') {
        ctx.issues.push({
          code: 'PC1101',
          path: [...path, k],
          atKey: true,
          message: `unknown field "${k}" (StringMatch takes exact, prefix or regex)`,
        })
        return INVALID
      }
    }
    if (keys.length > 1) {
      ctx.issues.push({
        code: 'PC1107',
        path,
        message: `only one of exact, prefix, regex may be set (found ${keys.join(' and ')})`,
      })
      return INVALID
    }
    const k = keys[0]
    if (k === undefined) return {}
    const val = (v as Record<string, unknown>)[k]
    if (typeof val !== 'string') {
      ctx.issues.push({ code: 'PC1102', path: [...path, k], message: 'expected a string' })
      return INVALID
    }
    if (k === 'regex' && val !== '*') {
      const r = compileRe2(val)
      if (!r.ok) {
        ctx.issues.push({
          code: 'PC1111',
          path: [...path, k],
          message: `invalid regex "${val}": ${r.reason}`,
        })
        return INVALID
      }
    }
    return { [k]: val } as StringMatch
  },
)

export const portSelector = obj({ number: port() }, { name: 'PortSelector' })

/** A service host as written in a destination (may be a short name, expanded by compile). */
export const destinationHost = str({
  nonEmpty: true,
  checkCode: 'PC1112',
  check: (v) => {
    const h = v.includes('/') ? undefined : checkDnsName(v, { allowWildcard: false })
    return v.includes('/') ? `"${v}" is not a host name` : h
  },
})

export const destination = obj(
  {
    host: req(destinationHost),
    subset: str({ nonEmpty: true }),
    port: portSelector,
  },
  { name: 'Destination' },
)
export type Destination = Infer<typeof destination>

/** Istio Percent: a double 0–100. */
export const percent = obj({ value: num({ min: 0, max: 100 }) }, { name: 'Percent' })

export const int32NonNeg = int({ min: 0, max: 2147483647 })
