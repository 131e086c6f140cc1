// The ACME store contract, run against both adapters: the state directory on disk (one replica)
// and Redis (a real redis-server; several replicas are several stores on it). Account keys are
// created once, certificates round-trip, the order lock is exclusive, expires, and fences out a
// holder whose lease was taken over; with Redis, private keys are sealed at rest and a saved
// certificate is announced to the other replicas.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { createCa, issueCertificate } from '../../src/cli/cert-forge.js'
import type * as ir from '../../src/ir/index.js'
import { silentLogger } from '../../src/lib/index.js'
import {
  createDiskStore,
  createRedisStore,
  createSealer,
  type AcmeStore,
} from '../../src/acme/store/index.js'
import { startRedisServer, type RedisServer } from '../support/redis-server.js'

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error('not within the deadline')
    await new Promise((r) => setTimeout(r, 20))
  }
}

const ca = createCa('contract CA')
const leaf = issueCertificate(ca, { hosts: ['www.contract.test'] })

interface Adapter {
  /** A replica's store; the disk adapter has one replica, so every call is the same store. */
  replica(): AcmeStore
  spec(name: string): ir.AcmeCertificate
  issuer(name: string): ir.AcmeIssuer
  close(): Promise<void>
}

function specFor(dir: string, name: string, issuer: ir.AcmeIssuer): ir.AcmeCertificate {
  return {
    id: `default/${name}`,
    secretName: name,
    dir: join(dir, name),
    dnsNames: ['www.contract.test'],
    challenges: { 'www.contract.test': 'http-01' },
    key: { algorithm: 'ECDSA', size: 256 },
    issuer,
  }
}

function issuerFor(dir: string, name: string): ir.AcmeIssuer {
  return {
    id: `ClusterIssuer/${name}`,
    directoryUrl: 'https://acme.invalid/dir',
    accountKeyFile: join(dir, `${name}-account`, 'tls.key'),
  }
}

function diskAdapter(): Adapter {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-acme-store-'))
  const store = createDiskStore()
  return {
    replica: () => store,
    spec: (name) => specFor(dir, name, issuerFor(dir, 'i')),
    issuer: (name) => issuerFor(dir, name),
    close: async () => {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

function redisAdapter(server: RedisServer, sealerKey: Buffer): Adapter & { raw: Redis } {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-acme-store-'))
  const stores: AcmeStore[] = []
  const raw = new Redis(server.url)
  return {
    raw,
    replica() {
      const s = createRedisStore({
        client: new Redis(server.url),
        subscriber: new Redis(server.url),
        sealer: createSealer(sealerKey),
        log: silentLogger,
      })
      stores.push(s)
      return s
    },
    spec: (name) => specFor(dir, name, issuerFor(dir, 'i')),
    issuer: (name) => issuerFor(dir, name),
    close: async () => {
      await Promise.all(stores.map((s) => s.close()))
      raw.disconnect()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

function contract(name: string, make: () => Adapter) {
  describe(`ACME store contract: ${name}`, () => {
    let a: Adapter
    before(() => {
      a = make()
    })
    after(() => a.close())

    test('an account key is created once; every caller and replica gets the saved one', async () => {
      const issuer = a.issuer('acct')
      const one = a.replica()
      const two = a.replica()
      const keys = await Promise.all([
        one.accountKey(issuer, () => Promise.resolve('KEY-A')),
        two.accountKey(issuer, () => Promise.resolve('KEY-B')),
      ])
      assert.equal(keys[0], keys[1])
      assert.equal(await one.accountKey(issuer, () => Promise.resolve('KEY-C')), keys[0])
    })

    test('a certificate written under the lock reads back; a missing one is undefined', async () => {
      const store = a.replica()
      const spec = a.spec('roundtrip')
      assert.equal(await store.readCertificate(spec), undefined)
      const lock = await store.acquire(spec.id, 5000)
      assert.ok(lock)
      assert.equal(await store.writeCertificate(spec, leaf, lock), true)
      await lock.release()
      assert.deepEqual(await a.replica().readCertificate(spec), { cert: leaf.cert, key: leaf.key })
    })

    test('the lock is exclusive until released; the next grant has a larger fence', async () => {
      const spec = a.spec('exclusive')
      const first = await a.replica().acquire(spec.id, 5000)
      assert.ok(first)
      assert.equal(await a.replica().acquire(spec.id, 5000), undefined)
      assert.equal(await first.renew(), true)
      assert.equal(await first.stillHeld(), true)
      await first.release()
      const second = await a.replica().acquire(spec.id, 5000)
      assert.ok(second)
      assert.ok(second.fence > first.fence)
      assert.equal(await first.stillHeld(), false)
      await second.release()
    })

    test('a lease expires; its old holder can neither renew nor write over the new one', async () => {
      const spec = a.spec('fenced')
      const stale = await a.replica().acquire(spec.id, 200)
      assert.ok(stale)
      const other = a.replica()
      const fresh = await until(() => other.acquire(spec.id, 5000))
      assert.equal(await stale.stillHeld(), false)
      assert.equal(await stale.renew(), false)
      assert.equal(await a.replica().writeCertificate(spec, leaf, stale), false)
      assert.equal(await other.readCertificate(spec), undefined)
      assert.equal(await other.writeCertificate(spec, leaf, fresh), true)
      await fresh.release()
    })

    test('an http-01 challenge put by one replica is answered by another, until deleted', async () => {
      const token = randomBytes(16).toString('base64url')
      const one = a.replica()
      const two = a.replica()
      await one.challenges.putHttp01(token, `${token}.thumb`)
      assert.equal(await two.challenges.http01(token), `${token}.thumb`)
      assert.equal(await two.challenges.http01('unknown'), undefined)
      await one.challenges.deleteHttp01(token)
      assert.equal(await two.challenges.http01(token), undefined)
    })
  })
}

contract('disk', diskAdapter)

describe('ACME store: redis only', () => {
  let server: RedisServer
  const key = randomBytes(32)
  before(async () => {
    server = await startRedisServer()
  })
  after(() => server?.stop())

  contract('redis', () => redisAdapter(server, key))

  test('private keys are sealed at rest; another key cannot open them', async () => {
    const a = redisAdapter(server, key)
    try {
      const store = a.replica()
      const spec = a.spec('sealed')
      const lock = await store.acquire(spec.id, 5000)
      assert.ok(lock)
      assert.equal(await store.writeCertificate(spec, leaf, lock), true)
      await store.accountKey(a.issuer('sealed'), () => Promise.resolve(leaf.key))
      const keys = await a.raw.keys('*')
      for (const k of keys) {
        const type = await a.raw.type(k)
        const values =
          type === 'hash'
            ? Object.values(await a.raw.hgetall(k))
            : type === 'string'
              ? [await a.raw.get(k)]
              : []
        for (const v of values)
          assert.doesNotMatch(v ?? '', /PRIVATE KEY/, `${k} holds a key in the clear`)
      }
      const wrong = createRedisStore({
        client: new Redis(server.url),
        subscriber: new Redis(server.url),
        sealer: createSealer(randomBytes(32)),
        log: silentLogger,
      })
      await assert.rejects(wrong.readCertificate(spec), /cannot be opened/)
      await wrong.close()
    } finally {
      await a.close()
    }
  })

  test('a saved certificate is announced to the other replicas', async () => {
    const a = redisAdapter(server, key)
    try {
      const writer = a.replica()
      const follower = a.replica()
      const heard: string[] = []
      follower.onCertificate((id) => heard.push(id))
      const spec = a.spec('announced')
      // Subscribing is asynchronous: write until the follower hears one.
      await until(async () => {
        const lock = await writer.acquire(spec.id, 5000)
        assert.ok(lock)
        await writer.writeCertificate(spec, leaf, lock)
        await lock.release()
        return heard.length > 0 ? true : undefined
      })
      assert.equal(heard[0], spec.id)
    } finally {
      await a.close()
    }
  })
})
