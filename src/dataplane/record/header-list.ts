import type { OutgoingHttpHeaders } from 'node:http'

/**
 * A flat [name, value, ...] response head (what the HTTP path writes) as an object, repeated
 * names as arrays: what %RESP(...)% and JSON records read. Built only when a record is read.
 */
export function headerListToObject(list: readonly string[]): OutgoingHttpHeaders {
  const out = Object.create(null) as OutgoingHttpHeaders
  for (let i = 0; i + 1 < list.length; i += 2) {
    const name = list[i]!
    const value = list[i + 1]!
    const prev = out[name]
    if (prev === undefined) out[name] = value
    else if (Array.isArray(prev)) prev.push(value)
    else out[name] = [String(prev), value]
  }
  return out
}
