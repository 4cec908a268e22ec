import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {commandFirst} from '../../../src/cli/argv.js'

describe('commandFirst: the global --config before the command', () => {
  const cases: Array<[string, string[], string[]]> = [
    ['-c FILE', ['-c', 'x.yml', 'user', 'add', 'a@b'], ['user', 'add', 'a@b', '--config=x.yml']],
    ['--config FILE', ['--config', 'x.yml', 'user', 'list', '--json'], ['user', 'list', '--json', '--config=x.yml']],
    ['--config=FILE', ['--config=x.yml', 'start'], ['start', '--config=x.yml']],
    ['-c=FILE', ['-c=x.yml', 'status'], ['status', '--config=x.yml']],
    ['a file name starting with "-"', ['-c', '-odd.yml', 'status'], ['status', '--config=-odd.yml']],
    ['before "--", after which words are arguments', ['-c', 'x.yml', 'user', 'add', '--', '-alice@b'], ['user', 'add', '--config=x.yml', '--', '-alice@b']],
    ['the command first already', ['user', 'add', 'a@b', '-c', 'x.yml'], ['user', 'add', 'a@b', '-c', 'x.yml']],
    ['other flags before the command', ['--json', 'user', 'list'], ['--json', 'user', 'list']],
    ['no command after it', ['-c', 'x.yml'], ['-c', 'x.yml']],
    ['nothing', [], []],
  ]
  for (const [name, argv, expected] of cases) {
    it(`moves ${name}`, () => assert.deepEqual(commandFirst(argv), expected))
  }
})
