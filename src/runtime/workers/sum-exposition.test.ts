import { test } from 'node:test'
import assert from 'node:assert/strict'
import { sumExpositions } from './sum-exposition.js'

const worker = (requests: number, version: number, inflight: number): string =>
  [
    '# HELP istio_requests_total Requests.',
    '# TYPE istio_requests_total counter',
    `istio_requests_total{response_code="200"} ${requests}`,
    '# HELP portcullis_config_version Version.',
    '# TYPE portcullis_config_version gauge',
    `portcullis_config_version ${version}`,
    '# HELP d Duration.',
    '# TYPE d histogram',
    `d_bucket{le="1"} ${requests}`,
    `d_sum ${requests * 2}`,
    `d_count ${requests}`,
    '# HELP inflight In flight.',
    '# TYPE inflight gauge',
    `inflight ${inflight}`,
    '',
  ].join('\n')

test('counters, histograms and gauges add up; a config version takes the oldest', () => {
  const text = sumExpositions([worker(3, 2, 1), worker(4, 1, 5)])
  assert.equal(
    text,
    [
      '# HELP istio_requests_total Requests.',
      '# TYPE istio_requests_total counter',
      'istio_requests_total{response_code="200"} 7',
      '# HELP portcullis_config_version Version.',
      '# TYPE portcullis_config_version gauge',
      'portcullis_config_version 1',
      '# HELP d Duration.',
      '# TYPE d histogram',
      'd_bucket{le="1"} 7',
      'd_sum 14',
      'd_count 7',
      '# HELP inflight In flight.',
      '# TYPE inflight gauge',
      'inflight 6',
      '',
    ].join('\n'),
  )
})

test('a series only one worker has is kept as it is', () => {
  const a = '# TYPE c counter\nc{x="a"} 1\n'
  const b = '# TYPE c counter\nc{x="b"} 2\n'
  assert.equal(sumExpositions([a, b]), '# TYPE c counter\nc{x="a"} 1\nc{x="b"} 2\n')
})
