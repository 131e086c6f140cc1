/**
 * A small schema language for the Istio API, written from the API reference. One definition
 * gives three things: validation with exact field paths (unknown fields are errors), the static
 * TypeScript type of the validated value, and the field table in docs/configuration.md.
 *
 * Why not JSON Schema + ajv: we need per-field support levels (implemented, planned, mesh-only,
 * deprecated, removed) with a reason, snake_case aliases as protobuf JSON accepts them, and
 * messages that read like Istio's. A walker over plain values does that in a few hundred lines.
 */
import { closest, parseDuration } from '../../lib/index.js'
import type { DiagCode } from '../../diag/index.js'

export type PathSeg = string | number
export type Path = readonly PathSeg[]

/** How far a field is implemented; drives warnings and the docs table. */
export type Support =
  | 'supported' // implemented as Istio documents it
  | 'partial' // implemented with a documented difference (see note)
  | 'planned' // accepted and type-checked, not acted on yet: warning PC1108
  | 'mesh' // needs a mesh; no effect here: warning PC1109 (or error PC1113 with meshError)
  | 'deprecated' // still works; warning PC1110 naming the replacement
  | 'removed' // dropped from the Istio API; ignored with warning PC1114
  | 'kubernetes' // only means something to a Kubernetes controller (cert-manager); ignored, PC1119

export interface Issue {
  readonly code: DiagCode
  readonly path: Path
  readonly message: string
  /** Point at the key instead of the value (unknown fields). */
  readonly atKey?: boolean
  readonly severity?: 'error' | 'warning'
}

export interface Ctx {
  readonly issues: Issue[]
}

export const INVALID: unique symbol = Symbol('invalid')
export type Invalid = typeof INVALID

export interface DocInfo {
  /** Human type, e.g. `string`, `duration`, `map<string, string>`, `HTTPRoute[]`. */
  readonly type: string
  /** Nested object fields, for the docs table. */
  readonly fields?: Readonly<Record<string, AnySchema>>
  readonly item?: AnySchema
  readonly values?: readonly string[]
}

export interface Schema<T, R extends boolean = false> {
  readonly required: R
  readonly support: Support
  readonly note: string | undefined
  /** For mesh-only fields: report an error instead of a warning. */
  readonly meshError: boolean
  readonly doc: DocInfo
  parse(value: unknown, ctx: Ctx, path: Path): T | Invalid
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnySchema = Schema<any, boolean>
export type Infer<S> = S extends Schema<infer T, boolean> ? T : never

type Fields = Readonly<Record<string, AnySchema>>
type RequiredKeys<F extends Fields> = {
  [K in keyof F]: F[K] extends Schema<unknown, true> ? K : never
}[keyof F]
type OptionalKeys<F extends Fields> = Exclude<keyof F, RequiredKeys<F>>
type Simplify<T> = { [K in keyof T]: T[K] } & {}
export type ObjectOf<F extends Fields> = Simplify<
  { readonly [K in RequiredKeys<F>]: Infer<F[K]> } & {
    readonly [K in OptionalKeys<F>]?: Infer<F[K]>
  }
>

function base<T>(doc: DocInfo, parse: Schema<T>['parse']): Schema<T> {
  return { required: false, support: 'supported', note: undefined, meshError: false, doc, parse }
}

function typeName(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'a mapping'
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${v}`
  return typeof v
}

function wrongType(ctx: Ctx, path: Path, expected: string, got: unknown): Invalid {
  ctx.issues.push({ code: 'PC1102', path, message: `expected ${expected}, got ${typeName(got)}` })
  return INVALID
}

// ---- modifiers -------------------------------------------------------------------------------

export function req<T>(s: Schema<T, boolean>): Schema<T, true> {
  return { ...s, required: true }
}
export function planned<T, R extends boolean>(s: Schema<T, R>, note: string): Schema<T, R> {
  return { ...s, support: 'planned', note }
}
export function partial<T, R extends boolean>(s: Schema<T, R>, note: string): Schema<T, R> {
  return { ...s, support: 'partial', note }
}
export function mesh<T, R extends boolean>(
  s: Schema<T, R>,
  note: string,
  opts: { error?: boolean } = {},
): Schema<T, R> {
  return { ...s, support: 'mesh', note, meshError: opts.error === true }
}
export function deprecated<T, R extends boolean>(s: Schema<T, R>, note: string): Schema<T, R> {
  return { ...s, support: 'deprecated', note }
}
export function removed<T, R extends boolean>(s: Schema<T, R>, note: string): Schema<T, R> {
  return { ...s, support: 'removed', note }
}
/** A field only a Kubernetes controller acts on (cert-manager's Ingress solver, say): ignored. */
export function kubernetesOnly<T, R extends boolean>(s: Schema<T, R>, note: string): Schema<T, R> {
  return { ...s, support: 'kubernetes', note }
}
/** Adds a note to a supported field (shown in the docs table). */
export function noted<T, R extends boolean>(s: Schema<T, R>, note: string): Schema<T, R> {
  return { ...s, note }
}

// ---- scalars ---------------------------------------------------------------------------------

export function str(
  opts: {
    nonEmpty?: boolean
    check?: (v: string) => string | undefined
    checkCode?: DiagCode
  } = {},
): Schema<string> {
  return base({ type: 'string' }, (v, ctx, path) => {
    if (typeof v !== 'string') return wrongType(ctx, path, 'a string', v)
    if (opts.nonEmpty === true && v === '') {
      ctx.issues.push({ code: 'PC1116', path, message: 'must not be empty' })
      return INVALID
    }
    const reason = opts.check?.(v)
    if (reason !== undefined) {
      ctx.issues.push({ code: opts.checkCode ?? 'PC1104', path, message: reason })
      return INVALID
    }
    return v
  })
}

export function bool(): Schema<boolean> {
  return base({ type: 'boolean' }, (v, ctx, path) =>
    typeof v === 'boolean' ? v : wrongType(ctx, path, 'true or false', v),
  )
}

export function int(opts: { min?: number; max?: number; type?: string } = {}): Schema<number> {
  const min = opts.min ?? -2147483648
  const max = opts.max ?? 4294967295
  return base({ type: opts.type ?? 'integer' }, (v, ctx, path) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) return wrongType(ctx, path, 'an integer', v)
    if (v < min || v > max) {
      ctx.issues.push({
        code: 'PC1105',
        path,
        message: v < min ? `must be >= ${min}` : `must be <= ${max}`,
      })
      return INVALID
    }
    return v
  })
}

export function num(opts: { min?: number; max?: number } = {}): Schema<number> {
  return base({ type: 'number' }, (v, ctx, path) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) return wrongType(ctx, path, 'a number', v)
    if ((opts.min !== undefined && v < opts.min) || (opts.max !== undefined && v > opts.max)) {
      ctx.issues.push({
        code: 'PC1105',
        path,
        message: `must be between ${opts.min ?? '-inf'} and ${opts.max ?? 'inf'}`,
      })
      return INVALID
    }
    return v
  })
}

export function port(): Schema<number> {
  return int({ min: 1, max: 65535, type: 'port (1-65535)' })
}

/** Istio's int-or-string shape used by e.g. Kubernetes-style ports; accepts numeric strings. */
export function enumOf<const V extends string>(
  values: readonly V[],
  opts: {
    caseInsensitive?: boolean
    meshOnly?: Readonly<Partial<Record<V, string>>>
    meshError?: boolean
    planned?: Readonly<Partial<Record<V, string>>>
  } = {},
): Schema<V> {
  return base({ type: 'enum', values }, (v, ctx, path) => {
    if (typeof v !== 'string') return wrongType(ctx, path, `one of ${values.join(', ')}`, v)
    const found =
      values.find((x) => x === v) ??
      (opts.caseInsensitive === true ? values.find((x) => x === v.toUpperCase()) : undefined)
    if (found === undefined) {
      const hint = closest(v, values)
      ctx.issues.push({
        code: 'PC1104',
        path,
        message: `"${v}" is not one of ${values.join(', ')}${hint !== undefined ? ` (did you mean ${hint}?)` : ''}`,
      })
      return INVALID
    }
    const meshReason = opts.meshOnly?.[found]
    if (meshReason !== undefined) {
      const error = opts.meshError === true
      ctx.issues.push({
        code: error ? 'PC1113' : 'PC1109',
        path,
        message: `${found}: ${meshReason}`,
      })
      if (error) return INVALID
    }
    const plannedReason = opts.planned?.[found]
    if (plannedReason !== undefined) {
      ctx.issues.push({
        code: 'PC1108',
        path,
        message: `${found} is not implemented yet: ${plannedReason}`,
      })
    }
    return found
  })
}

/** A Go/CEL duration string (`1.5s`, `500ms`, `1h30m`), at least 1ms as Istio's CRDs require. */
export function duration(opts: { minMs?: number } = {}): Schema<number> {
  const minMs = opts.minMs ?? 1
  return base({ type: 'duration' }, (v, ctx, path) => {
    if (typeof v !== 'string') return wrongType(ctx, path, 'a duration such as "1.5s"', v)
    const r = parseDuration(v)
    if (!r.ok) {
      ctx.issues.push({ code: 'PC1106', path, message: r.reason })
      return INVALID
    }
    if (r.ms < minMs) {
      ctx.issues.push({ code: 'PC1106', path, message: `duration must be >= ${minMs}ms` })
      return INVALID
    }
    return r.ms
  })
}

/** Accepts anything (for opaque values such as labels' free-form annotations). */
export function any(type = 'any'): Schema<unknown> {
  return base({ type }, (v) => v)
}

// ---- composites ------------------------------------------------------------------------------

export function arr<T>(
  item: Schema<T, boolean>,
  opts: { min?: number; max?: number } = {},
): Schema<readonly T[]> {
  return base({ type: `${item.doc.type}[]`, item }, (v, ctx, path) => {
    if (!Array.isArray(v)) return wrongType(ctx, path, 'a list', v)
    if (opts.min !== undefined && v.length < opts.min) {
      ctx.issues.push({
        code: v.length === 0 ? 'PC1116' : 'PC1105',
        path,
        message:
          opts.min === 1
            ? 'must have at least one entry'
            : `must have at least ${opts.min} entries`,
      })
      return INVALID
    }
    if (opts.max !== undefined && v.length > opts.max) {
      ctx.issues.push({ code: 'PC1105', path, message: `must have at most ${opts.max} entries` })
      return INVALID
    }
    const out: T[] = []
    let ok = true
    v.forEach((x: unknown, i) => {
      const r = item.parse(x, ctx, [...path, i])
      if (r === INVALID) ok = false
      else out.push(r)
    })
    return ok ? out : INVALID
  })
}

export function map<T>(
  value: Schema<T, boolean>,
  opts: { key?: (k: string) => string | undefined } = {},
): Schema<Readonly<Record<string, T>>> {
  return base({ type: `map<string, ${value.doc.type}>`, item: value }, (v, ctx, path) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v))
      return wrongType(ctx, path, 'a mapping', v)
    const out: Record<string, T> = {}
    let ok = true
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const keyIssue = opts.key?.(k)
      if (keyIssue !== undefined) {
        ctx.issues.push({ code: 'PC1104', path: [...path, k], message: keyIssue, atKey: true })
        ok = false
        continue
      }
      const r = value.parse(x, ctx, [...path, k])
      if (r === INVALID) ok = false
      else out[k] = r
    }
    return ok ? out : INVALID
  })
}

function camel(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase())
}

export interface ObjOpts<F extends Fields> {
  /** Name for docs (e.g. `HTTPRoute`). */
  readonly name?: string
  /** At most one of these groups of keys may be set (Istio oneofs). */
  readonly oneOf?: readonly (readonly (keyof F & string)[])[]
  /** Extra cross-field checks; push issues into ctx. Runs only when all fields parsed. */
  readonly check?: (value: ObjectOf<F>, ctx: Ctx, path: Path) => void
}

/**
 * A mapping with known fields. Unknown fields are errors (with a did-you-mean); snake_case keys
 * are accepted for their camelCase field, as protobuf JSON does (`prefix_rewrite`).
 */
export function obj<F extends Fields>(fields: F, opts: ObjOpts<F> = {}): Schema<ObjectOf<F>> {
  const known = Object.keys(fields)
  return base({ type: opts.name ?? 'object', fields }, (v, ctx, path) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v))
      return wrongType(ctx, path, 'a mapping', v)
    const out: Record<string, unknown> = {}
    let ok = true
    for (const [rawKey, x] of Object.entries(v as Record<string, unknown>)) {
      const key = Object.hasOwn(fields, rawKey) ? rawKey : camel(rawKey)
      const schema = Object.hasOwn(fields, key) ? fields[key] : undefined
      const p = [...path, rawKey]
      if (schema === undefined) {
        const hint = closest(rawKey, known)
        ctx.issues.push({
          code: 'PC1101',
          path: p,
          atKey: true,
          message: `unknown field "${rawKey}"${hint !== undefined ? ` (did you mean "${hint}"?)` : ''}`,
        })
        ok = false
        continue
      }
      if (Object.hasOwn(out, key)) {
        ctx.issues.push({ code: 'PC1117', path: p, atKey: true, message: `"${key}" is set twice` })
        ok = false
        continue
      }
      if (x === null && !schema.required) continue // explicit null means "not set", as in Kubernetes
      reportSupport(schema, ctx, p, rawKey)
      if (schema.support === 'removed' || schema.support === 'kubernetes') continue
      if (schema.support === 'mesh' && schema.meshError) {
        ok = false
        continue
      }
      const r: unknown = schema.parse(x, ctx, p)
      if (r === INVALID) ok = false
      else out[key] = r
    }
    for (const [key, schema] of Object.entries(fields)) {
      if (schema.required && !Object.hasOwn(out, key) && !hasKey(v, key)) {
        ctx.issues.push({ code: 'PC1103', path: [...path, key], message: `${key} is required` })
        ok = false
      }
    }
    for (const group of opts.oneOf ?? []) {
      const set = group.filter((k) => Object.hasOwn(out, k))
      if (set.length > 1) {
        ctx.issues.push({
          code: 'PC1107',
          path,
          message: `only one of ${group.join(', ')} may be set (found ${set.join(' and ')})`,
        })
        ok = false
      }
    }
    if (!ok) return INVALID
    const value = out as ObjectOf<F>
    opts.check?.(value, ctx, path)
    return value
  })
}

function hasKey(v: object, key: string): boolean {
  return Object.keys(v).some((k) => k === key || camel(k) === key)
}

function reportSupport(schema: AnySchema, ctx: Ctx, path: Path, key: string): void {
  const note = schema.note ?? ''
  switch (schema.support) {
    case 'planned':
      ctx.issues.push({
        code: 'PC1108',
        path,
        atKey: true,
        message: `${key} is not implemented yet${note !== '' ? `: ${note}` : ''}`,
      })
      break
    case 'mesh':
      ctx.issues.push({
        code: schema.meshError ? 'PC1113' : 'PC1109',
        path,
        atKey: true,
        message: `${key} ${note}`,
      })
      break
    case 'deprecated':
      ctx.issues.push({
        code: 'PC1110',
        path,
        atKey: true,
        message: `${key} is deprecated${note !== '' ? `: ${note}` : ''}`,
      })
      break
    case 'removed':
      ctx.issues.push({
        code: 'PC1114',
        path,
        atKey: true,
        message: `${key} was removed from the Istio API and is ignored${note !== '' ? `: ${note}` : ''}`,
      })
      break
    case 'kubernetes':
      ctx.issues.push({
        code: 'PC1119',
        path,
        atKey: true,
        message: `${key} is ignored: ${note}`,
      })
      break
    case 'supported':
    case 'partial':
      break
  }
}

/** Istio's StringMatch: exactly one of exact, prefix or regex; `{}` means "present". */
export function custom<T>(doc: DocInfo, parse: Schema<T>['parse']): Schema<T> {
  return base(doc, parse)
}
