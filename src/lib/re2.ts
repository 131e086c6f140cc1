/**
 * Istio (Envoy) regexes use RE2 syntax and are full matches. JavaScript's engine understands most
 * of RE2, so we translate the differences and refuse what RE2 does not have (look-around and
 * back-references), as Istio's validation does.
 */
export type RegexResult =
  { readonly ok: true; readonly regex: RegExp } | { readonly ok: false; readonly reason: string }

const LEADING_FLAGS = /^\(\?([imsU]+)\)/

export function compileRe2(pattern: string, opts: { fullMatch?: boolean } = {}): RegexResult {
  if (/\(\?<?[=!]/.test(pattern)) {
    return { ok: false, reason: 'look-ahead and look-behind are not RE2 syntax' }
  }
  if (/(^|[^\\])(\\\\)*\\[1-9]/.test(pattern)) {
    return { ok: false, reason: 'back-references are not RE2 syntax' }
  }
  let body = pattern
  let flags = ''
  const lead = LEADING_FLAGS.exec(body)
  if (lead !== null) {
    const f = lead[1] ?? ''
    if (f.includes('U')) return { ok: false, reason: 'the U (ungreedy) flag is not supported' }
    flags = [...new Set(f)].join('')
    body = body.slice(lead[0].length)
  }
  // RE2 named groups (?P<name>...) are (?<name>...) in JavaScript; \A and \z anchor the text.
  body = body
    .replace(/\(\?P</g, '(?<')
    .replace(/\\A/g, '^')
    .replace(/\\z/g, '$')
  if (/\(\?[a-zA-Z]/.test(body)) {
    return { ok: false, reason: 'inline flags are only supported at the start of the pattern' }
  }
  try {
    const source = opts.fullMatch === false ? body : `^(?:${body})$`
    return { ok: true, regex: new RegExp(source, flags) }
  } catch (e) {
    return {
      ok: false,
      reason:
        e instanceof Error ? e.message.replace(/^Invalid regular expression: /, '') : String(e),
    }
  }
}
