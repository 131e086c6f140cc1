import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { parseCommand } from './args.js'
import { RUN_USAGE, VALIDATE_USAGE } from './usage.js'

describe('parseCommand', () => {
  test('run: -c repeats, directories allowed, gateway.yaml by default', () => {
    assert.deepEqual(parseCommand(['run', '-c', 'a.yaml', '--config', 'conf.d'], {}), {
      kind: 'run',
      configPaths: ['a.yaml', 'conf.d'],
      watch: true,
      log: { level: 'info', format: 'text' },
    })
    const def = parseCommand(['run'], {})
    assert.equal(def.kind, 'run')
    assert.deepEqual(def.kind === 'run' && def.configPaths, ['gateway.yaml'])
  })

  test('run: --no-watch, log flags win over the environment', () => {
    const cmd = parseCommand(
      ['run', '--no-watch', '--log-level', 'debug', '--log-format', 'json'],
      { PORTCULLIS_LOG_LEVEL: 'error', PORTCULLIS_LOG_FORMAT: 'text' },
    )
    assert.equal(cmd.kind, 'run')
    if (cmd.kind !== 'run') return
    assert.equal(cmd.watch, false)
    assert.deepEqual(cmd.log, { level: 'debug', format: 'json' })
  })

  test('the log level comes from PORTCULLIS_LOG_LEVEL when no flag is given', () => {
    const cmd = parseCommand(['validate', 'x.yaml'], { PORTCULLIS_LOG_LEVEL: 'warn' })
    assert.equal(cmd.kind === 'validate' && cmd.log.level, 'warn')
  })

  test('validate: paths and --format', () => {
    assert.deepEqual(parseCommand(['validate', 'a.yaml', 'b', '--format', 'json'], {}), {
      kind: 'validate',
      paths: ['a.yaml', 'b'],
      format: 'json',
      log: { level: 'info', format: 'text' },
    })
  })

  test('help for each command', () => {
    assert.deepEqual(parseCommand(['run', '--help'], {}), { kind: 'help', text: RUN_USAGE })
    assert.deepEqual(parseCommand(['validate', '-h'], {}), { kind: 'help', text: VALIDATE_USAGE })
    assert.deepEqual(parseCommand(['help', 'run'], {}), { kind: 'help', text: RUN_USAGE })
    assert.equal(parseCommand(['--help'], {}).kind, 'help')
    assert.equal(parseCommand(['version', '--help'], {}).kind, 'help')
  })

  test('version', () => {
    assert.deepEqual(parseCommand(['version'], {}), { kind: 'version' })
    assert.deepEqual(parseCommand(['--version'], {}), { kind: 'version' })
  })

  for (const [name, argv, env, pattern] of [
    ['no command', [], {}, /no command/],
    ['unknown command', ['serve'], {}, /unknown command "serve"/],
    ['unknown flag', ['run', '--port', '80'], {}, /^unknown option "--port"$/],
    ['missing -c value', ['run', '-c'], {}, /argument missing/],
    ['stray argument to run', ['run', 'gateway.yaml'], {}, /unexpected argument "gateway.yaml"/],
    ['validate without a path', ['validate'], {}, /no config path/],
    [
      'bad --format',
      ['validate', 'a.yaml', '--format', 'xml'],
      {},
      /--format must be text or json/,
    ],
    ['bad --log-level', ['run', '--log-level', 'loud'], {}, /--log-level must be one of/],
    ['bad env level', ['run'], { PORTCULLIS_LOG_LEVEL: 'trace' }, /PORTCULLIS_LOG_LEVEL/],
    ['bad --log-format', ['run', '--log-format', 'xml'], {}, /--log-format must be text or json/],
  ] as const) {
    test(`usage error: ${name}`, () => {
      const cmd = parseCommand(argv, env)
      assert.equal(cmd.kind, 'usage-error')
      if (cmd.kind === 'usage-error') assert.match(cmd.message, pattern)
    })
  }
})
