import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import path from 'node:path'
import {describe, it} from 'node:test'

import {PROJECT_ROOT} from '../helpers.js'

const BASH_SCRIPT = path.join(PROJECT_ROOT, 'completions', 'xmppctl.bash')

/** Runs the bash completion function as bash would for the given words, cursor on the last one. */
function complete(...words: string[]): string[] {
  const script = `source ${JSON.stringify(BASH_SCRIPT)}
COMP_WORDS=(${words.map((word) => `'${word}'`).join(' ')})
COMP_CWORD=${words.length - 1}
_xmppctl
printf '%s\\n' "\${COMPREPLY[@]}"`
  return execFileSync('bash', ['-c', script], {encoding: 'utf8'}).split('\n').filter(Boolean)
}

function hasShell(shell: string): boolean {
  return spawnSync(shell, ['-c', 'exit 0']).status === 0
}

describe('shell completions', () => {
  it('are generated from the current command manifest', () => {
    const result = spawnSync(process.execPath, [path.join(PROJECT_ROOT, 'scripts', 'completions.js'), '--check'], {encoding: 'utf8'})
    assert.equal(result.stderr, '')
    assert.equal(result.status, 0)
  })

  it('complete a topic and its subcommands in bash', () => {
    assert.deepEqual(complete('xmppctl', 'us'), ['user'])
    assert.deepEqual(complete('xmppctl', 'user', ''), ['add', 'check', 'delete', 'disable', 'enable', 'exists', 'export', 'import', 'info', 'list', 'passwd'])
    assert.deepEqual(complete('xmppctl', 'user', 'd'), ['delete', 'disable'])
    assert.deepEqual(complete('xmppctl', 'config', 'i'), ['init'])
  })

  it('complete flags and flag values in bash', () => {
    assert.ok(complete('xmppctl', 'user', 'add', '--').includes('--password-stdin'))
    assert.ok(complete('xmppctl', 'user', 'add', '--').includes('--json'))
    assert.deepEqual(complete('xmppctl', 'config', 'init', '--password-format', '').sort(), ['plain', 'scram'])
  })

  it('are valid zsh and fish syntax', (t) => {
    for (const [shell, file] of [['zsh', '_xmppctl'], ['fish', 'xmppctl.fish']]) {
      if (!hasShell(shell)) {
        // .ci/run installs both shells; a developer machine may lack them.
        t.diagnostic(`${shell} is not installed; run .ci/run's apt-get line to check ${file}`)
        assert.ok(process.env.CI !== 'true', `${shell} must be installed in CI`)
        continue
      }

      const result = spawnSync(shell, ['-n', path.join(PROJECT_ROOT, 'completions', file)], {encoding: 'utf8'})
      assert.equal(result.status, 0, `${shell} -n ${file}: ${result.stderr}`)
    }
  })
})
