import assert from 'node:assert/strict'

import {ConfigProblemsError, parseConfig} from '../../../src/config/index.js'

/** The problems parseConfig reports for `text` as /etc/xmppctl.yml; fails the test when it accepts the text. */
export function problemsOf(text: string): Array<{location: string; key?: string; message: string; hint?: string}> {
  try {
    parseConfig(text, '/etc/xmppctl.yml')
  } catch (error) {
    assert.ok(error instanceof ConfigProblemsError, `expected ConfigProblemsError, got ${error}`)
    return error.problems
  }

  assert.fail('the configuration was accepted')
}
