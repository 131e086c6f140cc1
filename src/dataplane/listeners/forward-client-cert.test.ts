import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type * as ir from '../../ir/index.js'
import { applyForwardClientCert, type ClientCertHead } from './forward-client-cert.js'

const OURS = 'Hash=ab;Subject="CN=client";URI=spiffe://example/ns/a/sa/good'
const EVIL = 'URI=spiffe://evil'

function head(...xfcc: string[]): ClientCertHead {
  const rawHeaders = ['Host', 'a.test']
  for (const v of xfcc) rawHeaders.push('X-Forwarded-Client-Cert', v)
  const headers: ClientCertHead['headers'] = { host: 'a.test' }
  if (xfcc.length > 0) headers['x-forwarded-client-cert'] = xfcc.join(', ')
  return { headers, rawHeaders }
}

/** What goes upstream: the XFCC values of rawHeaders (the request path copies rawHeaders). */
function forwarded(req: ClientCertHead): string[] {
  const out: string[] = []
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() === 'x-forwarded-client-cert') {
      out.push(req.rawHeaders[i + 1]!)
    }
  }
  return out
}

// [mode, mTLS?, what the client sent, what goes upstream]: Envoy's mutateXfccRequestHeader.
const TABLE: [ir.ForwardClientCertDetails, boolean, string[], string[]][] = [
  ['SANITIZE', false, [EVIL], []],
  ['SANITIZE', true, [EVIL], []],
  ['FORWARD_ONLY', false, [EVIL], []],
  ['FORWARD_ONLY', true, [EVIL], [EVIL]],
  ['FORWARD_ONLY', true, [], []],
  ['APPEND_FORWARD', false, [EVIL], []],
  ['APPEND_FORWARD', true, [EVIL], [`${EVIL},${OURS}`]],
  ['APPEND_FORWARD', true, ['By=a', 'By=b'], [`By=a,By=b,${OURS}`]],
  ['APPEND_FORWARD', true, [], [OURS]],
  ['SANITIZE_SET', false, [EVIL], []],
  ['SANITIZE_SET', true, [EVIL], [OURS]],
  ['SANITIZE_SET', true, [], [OURS]],
  ['ALWAYS_FORWARD_ONLY', false, [EVIL], [EVIL]],
  ['ALWAYS_FORWARD_ONLY', true, [EVIL], [EVIL]],
  ['ALWAYS_FORWARD_ONLY', false, [], []],
]

describe('forwardClientCertDetails', () => {
  for (const [mode, isMutual, sent, expected] of TABLE) {
    test(`${mode}, ${isMutual ? 'mTLS' : 'no client certificate'}, client sent ${sent.length}`, () => {
      const req = head(...sent)
      applyForwardClientCert(req, mode, isMutual ? OURS : undefined)
      assert.deepEqual(forwarded(req), expected)
      // headers (what routing and matching read) agrees with rawHeaders (what is forwarded).
      assert.equal(req.headers['x-forwarded-client-cert'], expected[0])
      assert.equal(req.headers['host'], 'a.test')
      assert.deepEqual(req.rawHeaders.slice(0, 2), ['Host', 'a.test'])
    })
  }
})
