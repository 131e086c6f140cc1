import { test } from 'node:test'
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { createCa, issueCertificate } from './cert-forge.js'

test('every generated certificate loads in OpenSSL (serials are minimal positive DER integers)', () => {
  const ca = createCa()
  assert.doesNotThrow(() => new X509Certificate(ca.cert))
  // A serial with a needless 00 prefix fails to load about half the time, so 40 tries all but
  // guarantee a failure if the encoding regresses.
  for (let i = 0; i < 40; i++) {
    const leaf = issueCertificate(ca, { hosts: ['web.example.com'] })
    const x509 = new X509Certificate(leaf.cert)
    assert.equal(x509.checkHost('web.example.com'), 'web.example.com')
    assert.ok(/^(0[1-9A-F]|[1-7][0-9A-F])/.test(x509.serialNumber), x509.serialNumber)
  }
})
