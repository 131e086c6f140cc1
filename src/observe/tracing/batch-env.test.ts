// OpenTelemetry's batch-processor variables, read as the SDKs read them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { batchOptionsFromEnv } from './tracing-source.js'

test('OTEL_BSP_* set the delay, batch size and queue size; bad values keep the defaults', () => {
  assert.deepEqual(
    batchOptionsFromEnv({
      OTEL_BSP_SCHEDULE_DELAY: '250',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '64',
      OTEL_BSP_MAX_QUEUE_SIZE: '1024',
    }),
    { delayMs: 250, maxBatchSize: 64, maxQueueSize: 1024 },
  )
  assert.deepEqual(batchOptionsFromEnv({}), {})
  assert.deepEqual(
    batchOptionsFromEnv({
      OTEL_BSP_SCHEDULE_DELAY: '1s',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '0',
      OTEL_BSP_MAX_QUEUE_SIZE: '-5',
    }),
    {},
  )
})
