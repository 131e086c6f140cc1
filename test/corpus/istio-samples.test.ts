// Compatibility test against real Istio networking YAML (../shared/istio-samples, see its
// README): every valid file must load without errors, except the few that need a mesh; every
// file under invalid/ must be rejected, for the reason Istio rejects it.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'
import { loadConfig, loadConfigText } from '../../src/config/index.js'
import { formatDiagnosticsText, type Diagnostic } from '../../src/diag/index.js'

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const SAMPLES = join(REPO_ROOT, '..', 'shared', 'istio-samples')
const INVALID = join(SAMPLES, 'invalid')
const PRESENT = existsSync(SAMPLES)
const SKIP = PRESENT ? false : `Istio sample corpus not found at ${SAMPLES}; skipping`

const MIN_ACCEPTANCE = 0.95

/**
 * Valid Istio files that are refused here on purpose. Each needs mesh identity, which a
 * standalone gateway does not have; the refusal must be the mesh-only error (PC1113) and
 * nothing else.
 */
const MESH_ONLY: Readonly<Record<string, string>> = {
  'bookinfo-destination-rule-all-mtls.yaml':
    'DestinationRule tls.mode ISTIO_MUTUAL: sidecar-to-sidecar mTLS with SPIFFE certificates',
  'egress-gateway-mtls-origination.yaml':
    'Gateway server and DestinationRule ISTIO_MUTUAL: the sidecar-to-egress-gateway hop is mesh mTLS',
  'egress-gateway-tls-origination-simple.yaml':
    'Gateway server and DestinationRule ISTIO_MUTUAL: the sidecar-to-egress-gateway hop is mesh mTLS',
}

/** Why each plain invalid/ file must be rejected: the code of the diagnostic that says so. */
const INVALID_REASONS: Readonly<Record<string, string>> = {
  'destinationrule-missing-host.yaml': 'PC1103', // host is required
  'gateway-v1beta1-no-servers.yaml': 'PC1103', // servers is required
  'not-a-kubernetes-object.yaml': 'PC1003',
  'serviceentry-missing-hosts.yaml': 'PC1103', // hosts is required
  'sidecar-empty-egress.yaml': 'PC1601',
  'virtualservice-mesh-wildcard-host-cookie-regex.yaml': 'PC1215',
  'virtualservice-no-http-tcp-tls.yaml': 'PC1207',
  'virtualservice-regex-lookahead-not-re2.yaml': 'PC1111',
  'virtualservice-v1alpha3-negative-weight.yaml': 'PC1203',
  'virtualservice-v1beta1-negative-weight.yaml': 'PC1203',
}

/** Files whose documents carry Istio's expected error in a top-level `_err` key. */
const ERR_FILES = [
  'destinationrule-invalid-warmup-with-expected-errors.yaml',
  'serviceentry-invalid-with-expected-errors.yaml',
]

interface Expectation {
  readonly code: string
  /** A fragment of our message, when the `_err` text is not part of it. */
  readonly message?: string
  /** The field path the diagnostic must name. */
  readonly path?: string
}

/**
 * `_err` texts that our messages do not contain word for word, and what corresponds to them.
 * The others must appear (case-insensitively) in the message of an error diagnostic.
 */
const ERR_EQUIVALENTS: Readonly<Record<string, Expectation>> = {
  // Kubernetes' structural schema rejects a missing spec; we read it as an empty spec, whose
  // required hosts field is then missing.
  'spec: Required value': { code: 'PC1103', path: 'spec.hosts' },
  // The Kubernetes "<field>: Required value" / "Invalid value" forms: same field, required
  // (PC1103) or out of range (PC1105).
  'spec.hosts: Required value': { code: 'PC1103', path: 'spec.hosts' },
  'spec.trafficPolicy.loadBalancer.warmup.duration: Required value': {
    code: 'PC1103',
    path: 'spec.trafficPolicy.loadBalancer.warmup.duration',
  },
  'spec.trafficPolicy.loadBalancer.warmup.minimumPercent: Invalid value': {
    code: 'PC1105',
    path: 'spec.trafficPolicy.loadBalancer.warmup.minimumPercent',
  },
  'spec.trafficPolicy.loadBalancer.warmup.aggression: Invalid value': {
    code: 'PC1105',
    path: 'spec.trafficPolicy.loadBalancer.warmup.aggression',
  },
  // A bare "*" host is refused by the host check of the schema.
  'hostname cannot be wildcard': { code: 'PC1112', message: 'a bare "*" is not allowed' },
  // Port numbers and target ports are checked as integers in 1..65535.
  'port must be between 1-65535': { code: 'PC1105', message: 'must be <= 65535' },
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith('.yaml'))
    .sort()
}

function errorsOf(diags: readonly Diagnostic[]): Diagnostic[] {
  return diags.filter((d) => d.severity === 'error')
}

/** Documents with content (not the empty trailing document after a final `---`). */
function countDocuments(text: string): number {
  return parseAllDocuments(text).filter((d) => !Array.isArray(d) && d.toJS() != null).length
}

interface ErrDocument {
  readonly expected: string
  readonly text: string
}

/** Splits a file into its documents and takes the `_err` line out of each. */
function errDocuments(text: string): ErrDocument[] {
  const out: ErrDocument[] = []
  for (const chunk of text.split(/^---[ \t]*$/m)) {
    const m = /^_err:[ \t]*(.*)$/m.exec(chunk)
    if (m === null) continue // commented-out upstream TODOs
    const raw = m[1]!.trim()
    const expected = raw.startsWith("'") ? raw.slice(1, -1) : (JSON.parse(raw) as string)
    out.push({ expected, text: chunk.replace(m[0], '') })
  }
  return out
}

function matchesErr(d: Diagnostic, expected: string): boolean {
  const eq = ERR_EQUIVALENTS[expected]
  if (eq === undefined) return d.message.toLowerCase().includes(expected.toLowerCase())
  return (
    d.code === eq.code &&
    (eq.path === undefined || d.path === eq.path) &&
    (eq.message === undefined || d.message.includes(eq.message))
  )
}

describe('Istio sample corpus', { skip: SKIP }, () => {
  const valid = PRESENT ? yamlFiles(SAMPLES) : []
  const invalid = PRESENT ? yamlFiles(INVALID) : []

  describe('valid files load without errors', () => {
    for (const name of valid) {
      test(name, () => {
        const file = join(SAMPLES, name)
        const r = loadConfig([file])
        const errors = errorsOf(r.diagnostics)
        const reason = MESH_ONLY[name]
        if (reason !== undefined) {
          assert.ok(errors.length > 0, `${name} is allow-listed as mesh-only but loads: ${reason}`)
          assert.deepEqual(
            errors.filter((d) => d.code !== 'PC1113'),
            [],
            `${name} must be refused only for needing a mesh (${reason})`,
          )
          return
        }
        assert.deepEqual(errors, [], formatDiagnosticsText(r.diagnostics))
        // Nothing is dropped silently: each document is a resource, or was replaced by a
        // later definition of the same name (PC1006).
        const replaced = r.diagnostics.filter((d) => d.code === 'PC1006').length
        const resources = Object.values(r.resources)
          .flat()
          .filter((x) => x !== undefined).length
        assert.equal(resources + replaced, countDocuments(readFileSync(file, 'utf8')))
      })
    }

    test(`at least ${MIN_ACCEPTANCE * 100}% of the valid files are accepted`, (t) => {
      const accepted = valid.filter(
        (name) => errorsOf(loadConfig([join(SAMPLES, name)]).diagnostics).length === 0,
      )
      const rate = accepted.length / valid.length
      t.diagnostic(
        `accepted ${accepted.length}/${valid.length} (${(rate * 100).toFixed(1)}%); refused as mesh-only: ${Object.keys(MESH_ONLY).length}`,
      )
      assert.ok(valid.length >= 70, `expected the full corpus, found ${valid.length} files`)
      assert.ok(rate >= MIN_ACCEPTANCE, `acceptance ${(rate * 100).toFixed(1)}%`)
      assert.equal(accepted.length + Object.keys(MESH_ONLY).length, valid.length)
    })
  })

  describe('invalid files are rejected', () => {
    test('every file is covered by a reason or by _err annotations', () => {
      assert.deepEqual(invalid, [...Object.keys(INVALID_REASONS), ...ERR_FILES].sort())
    })

    for (const name of Object.keys(INVALID_REASONS)) {
      test(name, () => {
        const r = loadConfig([join(INVALID, name)])
        const errors = errorsOf(r.diagnostics)
        const code = INVALID_REASONS[name]!
        assert.ok(
          errors.some((d) => d.code === code),
          `${name}: expected error ${code}\n${formatDiagnosticsText(r.diagnostics)}`,
        )
      })
    }

    for (const name of ERR_FILES) {
      describe(name, () => {
        const text = PRESENT ? readFileSync(join(INVALID, name), 'utf8') : ''
        const docs = errDocuments(text)

        test('has annotated documents', () => {
          assert.ok(docs.length >= 3, `found ${docs.length} _err documents`)
        })

        docs.forEach((doc, i) => {
          test(`document ${i + 1}: ${doc.expected}`, () => {
            const r = loadConfigText({ [name]: doc.text })
            const errors = errorsOf(r.diagnostics)
            assert.ok(
              errors.some((d) => matchesErr(d, doc.expected)),
              `expected an error matching "${doc.expected}"\n${formatDiagnosticsText(r.diagnostics)}`,
            )
          })
        })
      })
    }
  })

  describe('exact diagnostics', () => {
    // [file (relative to the corpus), expected `<file>:<line>:<col> <severity> <code> <path>`]
    const spots: readonly (readonly [string, string])[] = [
      [
        'invalid/virtualservice-v1alpha3-negative-weight.yaml',
        'virtualservice-v1alpha3-negative-weight.yaml:15:17 error PC1203 spec.http[0].route[1].weight',
      ],
      [
        'invalid/virtualservice-no-http-tcp-tls.yaml',
        'virtualservice-no-http-tcp-tls.yaml:6:3 error PC1207 spec',
      ],
      [
        'invalid/virtualservice-mesh-wildcard-host-cookie-regex.yaml',
        'virtualservice-mesh-wildcard-host-cookie-regex.yaml:9:5 error PC1215 spec.hosts[0]',
      ],
      [
        'invalid/virtualservice-regex-lookahead-not-re2.yaml',
        'virtualservice-regex-lookahead-not-re2.yaml:13:16 error PC1111 spec.http[0].match[0].uri.regex',
      ],
      [
        'invalid/sidecar-empty-egress.yaml',
        'sidecar-empty-egress.yaml:6:11 error PC1601 spec.egress',
      ],
      [
        'validation-valid-serviceentry-edge-cases.yaml',
        'validation-valid-serviceentry-edge-cases.yaml:52:11 warning PC1118 spec.hosts[0]',
      ],
      [
        'routing-websocket-upgrade.yaml',
        'routing-websocket-upgrade.yaml:56:7 warning PC1114 spec.http[0].websocketUpgrade',
      ],
      [
        'bookinfo-destination-rule-all-mtls.yaml',
        'bookinfo-destination-rule-all-mtls.yaml:9:13 error PC1113 spec.trafficPolicy.tls.mode',
      ],
      [
        'mirroring-httpbin-mirror-to-v2-legacy-mirror-percent.yaml',
        'mirroring-httpbin-mirror-to-v2-legacy-mirror-percent.yaml:19:5 warning PC1110 spec.http[0].mirrorPercent',
      ],
    ]
    for (const [file, expected] of spots) {
      test(expected, () => {
        const r = loadConfig([join(SAMPLES, file)])
        const shown = r.diagnostics.map(
          (d) =>
            `${basename(d.loc?.file ?? '')}:${d.loc?.line}:${d.loc?.col} ${d.severity} ${d.code} ${d.path ?? ''}`,
        )
        assert.ok(shown.includes(expected), `not found among:\n${shown.join('\n')}`)
      })
    }
  })
})
