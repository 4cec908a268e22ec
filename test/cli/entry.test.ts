/**
 * The entry point (bin/run.js): it runs the bundle (dist/cli.cjs), and loads
 * oclif's core plugins only for what needs them. Every command of xmppctl and
 * of the core plugins must still be reachable, and help must list them all.
 */
import assert from 'node:assert/strict'
import {existsSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {runCli, tempDir} from '../helpers.js'

describe('the xmppctl entry point', () => {
  it('runs the help command of plugin-help, and lists its own and the core plugins\' commands', async (t) => {
    const cwd = tempDir(t)
    const topic = await runCli(['help', 'user'], {cwd})
    assert.equal(topic.status, 0, topic.stderr)
    assert.match(topic.stdout, /user add +Create an account/)
    const root = await runCli(['--help'], {cwd})
    assert.equal(root.status, 0, root.stderr)
    assert.match(root.stdout, /^ {2}user +Manage accounts/m)
    assert.match(root.stdout, /^ {2}help +Display help for xmppctl/m)
    assert.match(root.stdout, /^ {2}plugins +/m)
  })

  it("reaches plugin-plugins' commands in the plugins topic, beside xmppctl's own", async (t) => {
    const cwd = tempDir(t)
    const inspect = await runCli(['plugins', 'inspect', '--help'], {cwd})
    assert.equal(inspect.status, 0, inspect.stderr)
    assert.match(inspect.stdout, /Displays installation properties of a plugin/)
    const topic = await runCli(['plugins', '--help'], {cwd})
    assert.equal(topic.status, 0, topic.stderr)
    assert.match(topic.stdout, /plugins install +/)
    assert.match(topic.stdout, /plugins link +/)
  })

  it('takes the global --config before the command id: -c FILE, --config FILE, --config=FILE', async (t) => {
    const cwd = tempDir(t)
    writeFileSync(path.join(cwd, 'other.yml'), 'hosts: [example.org]\ndata_dir: ./elsewhere\nauth_scram_iterations: 4096\n')
    const added = await runCli(['-c', 'other.yml', 'user', 'add', 'alice@example.org', '--password-stdin'], {cwd, stdin: 'pw\n'})
    assert.deepEqual(added, {status: 0, stdout: 'created alice@example.org (SCRAM-SHA-1, SCRAM-SHA-256, 4096 iterations)\n', stderr: ''})
    assert.ok(existsSync(path.join(cwd, 'elsewhere', 'accounts.sqlite')))
    const exists = await runCli(['--config', 'other.yml', 'user', 'exists', 'alice@example.org'], {cwd})
    assert.equal(exists.status, 0, exists.stderr)
    const listed = await runCli(['--config=other.yml', 'user', 'list', '--json'], {cwd})
    assert.equal(listed.status, 0, listed.stderr)
    assert.deepEqual((JSON.parse(listed.stdout) as Array<{jid: string}>).map((account) => account.jid), ['alice@example.org'])
  })

  it('runs its own commands and their help, and names a mistyped command', async (t) => {
    const cwd = tempDir(t)
    const help = await runCli(['user', 'add', '--help'], {cwd})
    assert.equal(help.status, 0, help.stderr)
    assert.match(help.stdout, /--password-stdin/)
    const typo = await runCli(['usr', 'add'], {cwd})
    assert.deepEqual(typo, {status: 2, stdout: '', stderr: 'error: "usr add" is not an xmppctl command (did you mean "user add"?)\n'})
  })

  it('suggests the closest command for a mistyped one, on one line, with exit 2', async (t) => {
    const cwd = tempDir(t)
    const cases: Array<[string[], string]> = [
      [['user', 'ad', 'alice@example.org'], 'error: "user ad" is not an xmppctl command (did you mean "user add"?)\n'],
      [['strat'], 'error: "strat" is not an xmppctl command (did you mean "start"?)\n'],
      [['plugins', 'instal', 'xmppctl-auth-http'], 'error: "plugins instal" is not an xmppctl command (did you mean "plugins install"?)\n'],
      [['frobnicate'], 'error: "frobnicate" is not an xmppctl command (see "xmppctl --help" for the commands)\n'],
      [['--json', 'user', 'list'], 'error: "--json" is not an xmppctl command (give the command, then its flags, e.g. "xmppctl user list --json"; only -c/--config may also come first)\n'],
    ]
    for (const [args, stderr] of cases) assert.deepEqual(await runCli(args, {cwd}), {status: 2, stdout: '', stderr}, args.join(' '))
    const json = await runCli(['user', 'ad', '--json'], {cwd})
    assert.equal(json.status, 2)
    assert.deepEqual(JSON.parse(json.stdout), {error: {code: 'usage', message: '"user ad" is not an xmppctl command', hint: 'did you mean "user add"?'}})
  })
})
