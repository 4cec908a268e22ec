import assert from 'node:assert/strict'
import {chmodSync, readFileSync, readdirSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {runCli, tempDir, writeConfig} from '../helpers.js'

describe('config check', () => {
  it('prints the effective settings of every host, with host_config applied', async (t) => {
    const dir = tempDir(t)
    writeConfig(dir, 'hosts: [example.org, example.net]\nhost_config:\n  example.net: {auth_password_format: plain}\n')
    const result = await runCli(['config', 'check', '--json'], {cwd: dir})
    assert.equal(result.status, 0, result.stderr)
    const checked = JSON.parse(result.stdout)
    assert.equal(checked.file, path.join(dir, 'xmppctl.yml'))
    assert.equal(checked.valid, true)
    assert.equal(checked.dataDir, path.join(dir, 'data'))
    assert.deepEqual(Object.keys(checked.hosts), ['example.org', 'example.net'])
    assert.equal(checked.hosts['example.org'].auth_password_format, 'scram')
    assert.equal(checked.hosts['example.net'].auth_password_format, 'plain')
    const human = await runCli(['config', 'check'], {cwd: dir})
    assert.match(human.stdout, /xmppctl\.yml: valid/)
    assert.match(human.stdout, /^example\.net$/m)
  })

  it('works on the built-in defaults when there is no file', async (t) => {
    const dir = tempDir(t)
    const result = await runCli(['config', 'check', '--json'], {cwd: dir})
    assert.equal(result.status, 0)
    assert.equal(JSON.parse(result.stdout).file, null)
    assert.deepEqual(Object.keys(JSON.parse(result.stdout).hosts), ['localhost'])
  })

  it('lists every problem with file:line:column and exits 2', async (t) => {
    const dir = tempDir(t)
    writeConfig(dir, 'hosts: [example.org]\nauth_methd: [internal]\nauth_scram_hash: [sha1, sha384]\n')
    const result = await runCli(['config', 'check'], {cwd: dir})
    assert.equal(result.status, 2)
    assert.equal(
      result.stderr,
      'error: xmppctl.yml:2:1: unknown key auth_methd (did you mean auth_method?)\n' +
        'error: xmppctl.yml:3:25: auth_scram_hash[1] must be one of sha1, sha256, sha512, not "sha384"\n',
    )
    const asJson = await runCli(['config', 'check', '--json'], {cwd: dir})
    assert.equal(asJson.status, 2)
    const {error} = JSON.parse(asJson.stdout)
    assert.equal(error.code, 'config-invalid')
    assert.equal(error.problems.length, 2)
    assert.equal(error.problems[1].location, 'xmppctl.yml:3:25')
  })
})

describe('a bad configuration, whatever the command', () => {
  it('says what is wrong once, on one line, with one hint that names "xmppctl config check" once', async (t) => {
    const dir = tempDir(t)
    writeFileSync(path.join(dir, 'bad.yml'), 'hosts: [example.org]\nauth_scram_iterations: -1\nbogus: 1\n')
    writeFileSync(path.join(dir, 'one.yml'), 'hosts: [example.org]\nauth_use_cache: maybe\n')
    const two = 'error: bad.yml:2:24: auth_scram_iterations must be an integer ≥ 4096 and ≤ 10000000, not -1 (fix the file; "xmppctl config check" lists all 2 problems)\n'
    const one = 'error: one.yml:2:17: auth_use_cache must be true or false, not "maybe" (fix the file and run "xmppctl config check")\n'
    for (const [file, stderr] of [['bad.yml', two], ['one.yml', one]]) {
      for (const command of [['user', 'list'], ['start']]) {
        const result = await runCli(['-c', file, ...command], {cwd: dir})
        assert.deepEqual(result, {status: 2, stdout: '', stderr}, `-c ${file} ${command.join(' ')}`)
      }
    }
  })
})

describe('config init', () => {
  it('writes a valid file from flags without a terminal, mode 0600', async (t) => {
    const dir = tempDir(t)
    const result = await runCli(
      ['config', 'init', '--host', 'example.org', '--host', 'example.net', '--data-dir', '/var/lib/xmppctl', '--scram-hash', 'sha256', '--scram-hash', 'sha512', '--json'],
      {cwd: dir},
    )
    assert.equal(result.status, 0, result.stderr)
    const file = path.join(dir, 'xmppctl.yml')
    assert.deepEqual(JSON.parse(result.stdout), {
      file,
      settings: {hosts: ['example.org', 'example.net'], data_dir: '/var/lib/xmppctl', auth_password_format: 'scram', auth_scram_hash: ['sha256', 'sha512']},
    })
    assert.equal(statSync(file).mode & 0o777, 0o600)
    const checked = await runCli(['config', 'check', '--json'], {cwd: dir})
    assert.equal(JSON.parse(checked.stdout).hosts['example.net'].auth_scram_hash.join(), 'sha256,sha512')
  })

  it('uses the defaults for questions no flag answered', async (t) => {
    const dir = tempDir(t)
    const result = await runCli(['config', 'init', '-c', 'conf/xmppctl.yml'], {cwd: dir})
    assert.equal(result.status, 0, result.stderr)
    assert.match(readFileSync(path.join(dir, 'conf', 'xmppctl.yml'), 'utf8'), /hosts:\n {2}- localhost\n/)
  })

  it('refuses to overwrite an existing file without --force', async (t) => {
    const dir = tempDir(t)
    writeFileSync(path.join(dir, 'xmppctl.yml'), 'hosts: [mine.example]\n')
    const refused = await runCli(['config', 'init', '--host', 'example.org'], {cwd: dir})
    assert.equal(refused.status, 2)
    assert.match(refused.stderr, /already exists \(add --force to replace it/)
    assert.equal(readFileSync(path.join(dir, 'xmppctl.yml'), 'utf8'), 'hosts: [mine.example]\n')
    const forced = await runCli(['config', 'init', '--host', 'example.org', '--force'], {cwd: dir})
    assert.equal(forced.status, 0)
    assert.match(readFileSync(path.join(dir, 'xmppctl.yml'), 'utf8'), /example\.org/)
  })

  it('replaces an existing 0644 file with --force as a new 0600 file', async (t) => {
    const dir = tempDir(t)
    const file = path.join(dir, 'xmppctl.yml')
    writeFileSync(file, 'hosts: [mine.example]\n')
    chmodSync(file, 0o644)
    const forced = await runCli(['config', 'init', '--host', 'example.org', '--force'], {cwd: dir})
    assert.equal(forced.status, 0, forced.stderr)
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.match(readFileSync(file, 'utf8'), /example\.org/)
    assert.deepEqual(readdirSync(dir), ['xmppctl.yml'])
  })

  it('names the --host flag, not a file never written, for a bad host', async (t) => {
    const dir = tempDir(t)
    const result = await runCli(['config', 'init', '--host', 'example.org', '--host', 'bad host'], {cwd: dir})
    assert.equal(result.status, 2)
    assert.equal(
      result.stderr,
      'error: --host "bad host": not a valid domain: the domainpart contains a space (U+0020), which RFC 7622 forbids (write a domain such as example.org)\n',
    )
    assert.deepEqual(readdirSync(dir), [])
    const twice = await runCli(['config', 'init', '--host', 'example.org', '--host', 'Example.ORG.'], {cwd: dir})
    assert.equal(twice.status, 2)
    assert.equal(twice.stderr, 'error: --host "Example.ORG.": example.org is already given (give each host once)\n')
    assert.deepEqual(readdirSync(dir), [])
  })

  it('refuses a host that is not a domain, writing nothing', async (t) => {
    const dir = tempDir(t)
    const result = await runCli(['config', 'init', '--host', 'not a host'], {cwd: dir})
    assert.equal(result.status, 2)
    assert.match(result.stderr, /not a valid domain/)
    assert.equal((await runCli(['config', 'check', '--json'], {cwd: dir})).stdout.includes('"file": null'), true)
  })
})
