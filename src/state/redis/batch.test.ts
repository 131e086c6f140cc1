import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Command } from 'ioredis'
import { RedisBatch, type BatchOp, type RateBatchOp, type ReplyReader } from './batch.js'
import type { ScriptedClient } from './scripts.js'

/** A client that keeps the commands it is sent; the test answers them. */
function fakeClient(): { client: ScriptedClient; sent: Command[] } {
  const sent: Command[] = []
  const client = {
    sendCommand(command: Command) {
      sent.push(command)
      return command.promise
    },
  } as unknown as ScriptedClient
  return { client, sent }
}

/** The operation specs of a sent BATCH_LUA call (after the script and the key count). */
function specsOf(command: Command): string[] {
  const args = command.args as string[]
  const n = Number(args[1])
  return args.slice(2 + n)
}

function answer(command: Command, reply: string): void {
  command.resolve(Buffer.from(reply))
}

class Rate implements RateBatchOp {
  settled = false
  value: number | undefined
  lateAt: number | undefined
  readonly late_: Promise<void>
  private onLate!: () => void

  constructor(readonly askedAt: number) {
    this.late_ = new Promise((resolve) => (this.onLate = resolve))
  }

  answer(reply: ReplyReader): void {
    this.value = reply.next()
    reply.next()
    this.settled = true
  }

  fail(): void {
    this.settled = true
  }

  late(): void {
    this.lateAt = performance.now()
    this.onLate()
  }
}

const release: BatchOp = { answer: () => undefined, fail: () => undefined }

/** Resolves once `check` holds, polling each turn; fails after `ms`. */
async function until(check: () => boolean, ms = 2000): Promise<void> {
  const end = performance.now() + ms
  while (!check()) {
    if (performance.now() > end) throw new Error('condition not met in time')
    await new Promise((resolve) => setImmediate(resolve))
  }
}

function newBatch(client: ScriptedClient, rateDeadlineMs = 10_000): RedisBatch {
  return new RedisBatch({
    client,
    rateDeadlineMs,
    leaseDeadlineMs: 10_000,
    perKey: false,
    onOutcome: () => undefined,
    now: () => performance.now(),
  })
}

describe('RedisBatch', () => {
  test('what is asked while a call is out goes in one call once it is answered', async () => {
    const { client, sent } = fakeClient()
    const batch = newBatch(client)
    const first = new Rate(performance.now())
    batch.rate('k1', 'r1,10,1', first)
    await until(() => sent.length === 1)
    const later = [new Rate(performance.now()), new Rate(performance.now())]
    batch.rate('k2', 'r1,10,1', later[0]!)
    await new Promise((resolve) => setImmediate(resolve))
    batch.rate('k3', 'r1,10,1', later[1]!)
    batch.release('k4', 'id', release)
    // Two turns later, still one call out: the others wait for its answer.
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(sent.length, 1)
    answer(sent[0]!, '9,100')
    await until(() => sent.length === 2)
    assert.equal(first.value, 9)
    assert.deepEqual(specsOf(sent[1]!), ['r1,10,1', 'r1,10,1', 'zid'])
    answer(sent[1]!, '8,100,7,100')
    await until(() => later.every((r) => r.settled))
    assert.deepEqual(
      later.map((r) => r.value),
      [8, 7],
    )
  })

  test('a held rate decision is late after its deadline, counted from when it was asked', async () => {
    const { client, sent } = fakeClient()
    const batch = newBatch(client, 30)
    const first = new Rate(performance.now())
    batch.rate('k1', 'r1,10,1', first)
    await until(() => sent.length === 1)
    const askedAt = performance.now()
    const held = new Rate(askedAt)
    batch.rate('k2', 'r1,10,1', held)
    // Neither is answered: both are told they are late, the held one without being sent.
    await Promise.race([
      held.late_,
      until(() => false, 2000).catch(() => assert.fail('the held decision was never late')),
    ])
    assert.ok(held.lateAt! - askedAt >= 30, `late after ${held.lateAt! - askedAt} ms`)
    assert.equal(sent.length, 1)
    // Its answer still comes once the call out is answered and the held one is sent.
    answer(sent[0]!, '9,100')
    await until(() => sent.length === 2)
    answer(sent[1]!, '8,100')
    await until(() => held.settled)
    assert.equal(held.value, 8)
  })
})
