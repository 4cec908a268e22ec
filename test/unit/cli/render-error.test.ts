import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {Errors} from '@oclif/core'

import {renderError} from '../../../src/cli/base-command.js'

describe('renderError: oclif usage errors as one line', () => {
  it('drops oclif\'s heading and names a missing flag with its dashes', () => {
    const rendered = renderError(new Errors.CLIError('The following error occurred:\n  Missing required flag to\nSee more help with --help'))
    assert.deepEqual(rendered, {code: 'usage', message: 'Missing required flag --to', hint: 'see --help for the arguments and flags this command takes', exitCode: 2})
  })

  it('keeps a missing argument with its description on one line', () => {
    const rendered = renderError(new Errors.CLIError('Missing 1 required arg:\njid  bare JID of the account\nSee more help with --help'))
    assert.equal(rendered.message, 'Missing 1 required arg: jid bare JID of the account')
  })
})
