import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {chmodSync, chownSync, existsSync, mkdirSync, statSync, writeFileSync} from 'node:fs'
import {userInfo} from 'node:os'
import path from 'node:path'
import {describe, it} from 'node:test'

import Database from '../../src/store/sqlite/driver.js'

import {BIN, type CliResult, runCli, tempDir, writeConfig} from '../helpers.js'

const CONFIG = 'hosts: [example.org, example.net]\nauth_scram_iterations: 4096\n'

function setup(t: {after(fn: () => void): void}, config = CONFIG) {
  const dir = tempDir(t)
  writeConfig(dir, config)
  const cli = (args: string[], stdin?: string, env?: NodeJS.ProcessEnv): Promise<CliResult> => runCli(args, {cwd: dir, stdin, env})
  return {dir, cli}
}

const json = (result: CliResult) => JSON.parse(result.stdout)

describe('user add', () => {
  it('creates an account with SCRAM credentials for every configured hash', async (t) => {
    const {cli, dir} = setup(t)
    const result = await cli(['user', 'add', 'Alice@Example.org', '--password-stdin'], 'correct horse\n')
    assert.deepEqual(result, {status: 0, stdout: 'created alice@example.org (SCRAM-SHA-1, SCRAM-SHA-256, 4096 iterations)\n', stderr: ''})
    assert.equal(statSync(path.join(dir, 'data')).mode & 0o777, 0o700)
    assert.equal(statSync(path.join(dir, 'data', 'accounts.sqlite')).mode & 0o777, 0o600)
    assert.equal((await cli(['user', 'check', 'alice@example.org', '--password-stdin'], 'correct horse\n')).status, 0)
  })

  it('returns the created account under --json', async (t) => {
    const {cli} = setup(t)
    const result = await cli(['user', 'add', 'bob@example.net', '--password-stdin', '--json'], 'pw\n')
    assert.equal(result.status, 0)
    assert.deepEqual(json(result), {jid: 'bob@example.net', hashes: ['sha1', 'sha256'], iterations: 4096, plaintext: false})
  })

  it('refuses an existing account with exit 2 and changes nothing', async (t) => {
    const {cli} = setup(t)
    await cli(['user', 'add', 'alice@example.org', '--password-stdin'], 'first\n')
    const result = await cli(['user', 'add', 'alice@example.org', '--password-stdin'], 'second\n')
    assert.deepEqual(result, {
      status: 2,
      stdout: '',
      stderr: 'error: account alice@example.org already exists (use "xmppctl user passwd alice@example.org" to change its password)\n',
    })
    assert.equal((await cli(['user', 'check', 'alice@example.org', '--password-stdin'], 'first\n')).status, 0)
  })

  it('prints the error as JSON on stdout under --json', async (t) => {
    const {cli} = setup(t)
    await cli(['user', 'add', 'alice@example.org', '--password-stdin'], 'first\n')
    const result = await cli(['user', 'add', 'alice@example.org', '--password-stdin', '--json'], 'second\n')
    assert.equal(result.status, 2)
    assert.equal(result.stderr, '')
    assert.deepEqual(json(result), {
      error: {
        code: 'account-exists',
        message: 'account alice@example.org already exists',
        hint: 'use "xmppctl user passwd alice@example.org" to change its password',
      },
    })
  })

  it('fails at once without a terminal and without --password-stdin', async (t) => {
    const {cli} = setup(t)
    const result = await cli(['user', 'add', 'alice@example.org'])
    assert.equal(result.status, 2)
    assert.match(result.stderr, /^error: no password given: standard input is not a terminal.*--password-stdin/)
    assert.equal((await cli(['user', 'exists', 'alice@example.org'])).status, 1)
  })

  const badInput: Array<[string, string[], string, RegExp]> = [
    ['a malformed JID', ['user', 'add', 'al ice@example.org', '--password-stdin'], 'pw\n', /^error: invalid JID "al ice@example\.org": .*localpart.*space/],
    ['a JID without localpart', ['user', 'add', 'example.org', '--password-stdin'], 'pw\n', /^error: invalid JID "example\.org": it has no localpart/],
    ['an unknown host', ['user', 'add', 'alice@example.com', '--password-stdin'], 'pw\n', /^error: host example\.com is not configured \(configured: example\.org, example\.net\)/],
    ['an empty password', ['user', 'add', 'alice@example.org', '--password-stdin'], '\n', /^error: the password is empty/],
    ['a password SASLprep refuses', ['user', 'add', 'alice@example.org', '--password-stdin'], 'bell\u0007secret\n', /^error: the password contains .*U\+0007/],
  ]
  for (const [what, args, stdin, expected] of badInput) {
    it(`refuses ${what} with exit 2, a one-line error, and no account`, async (t) => {
      const {cli} = setup(t)
      const result = await cli(args, stdin)
      assert.equal(result.status, 2, result.stderr)
      assert.equal(result.stdout, '')
      assert.match(result.stderr, expected)
      assert.equal(result.stderr.trimEnd().split('\n').length, 1, 'one line')
      assert.ok(!result.stderr.includes('secret'), 'the password never appears in an error')
      const list = await cli(['user', 'list'])
      assert.equal(list.stdout, '')
    })
  }

  it('stores only plaintext when auth_password_format is plain', async (t) => {
    const {cli} = setup(t, 'hosts: [example.org]\nauth_password_format: plain\n')
    const added = await cli(['user', 'add', 'carol@example.org', '--password-stdin', '--json'], 'pässwörd €\n')
    assert.deepEqual(json(added), {jid: 'carol@example.org', hashes: [], plaintext: true})
    assert.equal((await cli(['user', 'check', 'carol@example.org', '--password-stdin'], 'pässwörd €\n')).status, 0)
    assert.equal((await cli(['user', 'check', 'carol@example.org', '--password-stdin'], 'passwort\n')).status, 1)
  })

  it('names the path and the OS error when the data directory is not writable', async (t) => {
    const dir = tempDir(t)
    chmodSync(dir, 0o755)
    mkdirSync(path.join(dir, 'locked'), {mode: 0o555})
    writeConfig(dir, 'data_dir: locked/data\n')
    chmodSync(path.join(dir, 'xmppctl.yml'), 0o644)
    // root may write anywhere, so the check runs as nobody there.
    const asNobody = process.getuid?.() === 0
    const result = await runCli(['user', 'add', 'alice@localhost', '--password-stdin'], {cwd: dir, stdin: 'pw\n', ...(asNobody ? {uid: 65_534, gid: 65_534} : {})})
    assert.equal(result.status, 2, result.stderr)
    assert.equal(result.stderr, `error: cannot create data directory ${path.join(dir, 'locked', 'data')}: EACCES: permission denied (set data_dir to a directory this user can write, or fix its permissions)\n`)
  })

  it('names the store and the user when the data directory is read-only (exit 2, not a bug report)', async (t) => {
    const {cli, dir} = setup(t)
    chmodSync(dir, 0o755)
    chmodSync(path.join(dir, 'xmppctl.yml'), 0o644)
    assert.equal((await cli(['user', 'add', 'alice@example.org', '--password-stdin'], 'pw\n')).status, 0)
    const data = path.join(dir, 'data')
    // SQLite must create the -shm file beside the store, even to read; root may write anywhere, so nobody reads there.
    const asNobody = process.getuid?.() === 0
    if (asNobody) for (const file of [data, path.join(data, 'accounts.sqlite')]) chownSync(file, 65_534, 65_534)
    chmodSync(data, 0o500)
    const user = asNobody ? 'nobody' : userInfo().username
    const result = await runCli(['user', 'list'], {cwd: dir, ...(asNobody ? {uid: 65_534, gid: 65_534} : {})})
    assert.deepEqual(result, {
      status: 2,
      stdout: '',
      stderr: `error: cannot write account store ${path.join(data, 'accounts.sqlite')} as user ${user}: attempt to write a readonly database (run xmppctl as the user that owns the data directory, or give ${user} write access to ${data} and the store file in it)\n`,
    })
  })

  it('refuses a corrupt store file and leaves it as it was', async (t) => {
    const {cli, dir} = setup(t)
    mkdirSync(path.join(dir, 'data'), {mode: 0o700})
    writeFileSync(path.join(dir, 'data', 'accounts.sqlite'), 'this is not a database, it is a shopping list\n'.repeat(200))
    const result = await cli(['user', 'add', 'alice@example.org', '--password-stdin', '--json'], 'pw\n')
    assert.equal(result.status, 2)
    assert.equal(json(result).error.code, 'store-corrupt')
    assert.match(json(result).error.hint, /backup/)
  })
})

describe('user check, exists, passwd', () => {
  it('exits 0 for the right password, 1 for a wrong one or an absent account', async (t) => {
    const {cli} = setup(t)
    await cli(['user', 'add', 'alice@example.org', '--password-stdin'], 'pässwörd:€\n')
    assert.deepEqual(await cli(['user', 'check', 'alice@example.org', '--password-stdin'], 'pässwörd:€\n'), {status: 0, stdout: 'password of alice@example.org is correct\n', stderr: ''})
    assert.deepEqual(await cli(['user', 'check', 'alice@example.org', '--password-stdin'], 'passwörd:€\n'), {status: 1, stdout: 'password of alice@example.org is wrong\n', stderr: ''})
    assert.deepEqual(await cli(['user', 'check', 'bob@example.org', '--password-stdin'], 'x\n'), {status: 1, stdout: 'bob@example.org does not exist\n', stderr: ''})
    const wrong = await cli(['user', 'check', 'alice@example.org', '--password-stdin', '--json'], 'nope\n')
    assert.deepEqual(json(wrong), {jid: 'alice@example.org', valid: false, reason: 'wrong-password', state: 'enabled'})
    assert.equal(wrong.status, 1)
  })

  it('tells existence by exit code', async (t) => {
    const {cli} = setup(t)
    await cli(['user', 'add', 'alice@example.org', '--password-stdin'], 'pw\n')
    assert.deepEqual(await cli(['user', 'exists', 'alice@example.org']), {status: 0, stdout: 'alice@example.org exists\n', stderr: ''})
    assert.deepEqual(await cli(['user', 'exists', 'alice@example.net', '--json']), {status: 1, stdout: '{\n  "jid": "alice@example.net",\n  "exists": false\n}\n', stderr: ''})
  })

  it('changes the password, replacing every credential', async (t) => {
    const {cli} = setup(t)
    await cli(['user', 'add', 'alice@example.org', '--password-stdin'], 'old\n')
    assert.deepEqual(await cli(['user', 'passwd', 'alice@example.org', '--password-stdin'], 'new\n'), {
      status: 0,
      stdout: 'changed the password of alice@example.org (SCRAM-SHA-1, SCRAM-SHA-256, 4096 iterations)\n',
      stderr: '',
    })
    assert.equal((await cli(['user', 'check', 'alice@example.org', '--password-stdin'], 'old\n')).status, 1)
    assert.equal((await cli(['user', 'check', 'alice@example.org', '--password-stdin'], 'new\n')).status, 0)
  })

  it('never lowers an account iteration count, and raises it when configured higher', async (t) => {
    const dir = tempDir(t)
    const high = writeConfig(dir, 'hosts: [example.org]\nauth_scram_iterations: 6000\nauth_scram_hash: [sha256]\n')
    const low = path.join(dir, 'low.yml')
    writeFileSync(low, 'hosts: [example.org]\nauth_scram_iterations: 4096\nauth_scram_hash: [sha256, sha512]\n')
    const higher = path.join(dir, 'higher.yml')
    writeFileSync(higher, 'hosts: [example.org]\nauth_scram_iterations: 7000\nauth_scram_hash: [sha256]\n')
    await runCli(['user', 'add', 'alice@example.org', '--password-stdin', '-c', high], {cwd: dir, stdin: 'pw\n'})
    const lowered = await runCli(['user', 'passwd', 'alice@example.org', '--password-stdin', '--json', '-c', low], {cwd: dir, stdin: 'pw2\n'})
    assert.deepEqual(JSON.parse(lowered.stdout), {jid: 'alice@example.org', hashes: ['sha256', 'sha512'], iterations: 6000, plaintext: false})
    const raised = await runCli(['user', 'passwd', 'alice@example.org', '--password-stdin', '--json'], {cwd: dir, stdin: 'pw3\n', env: {XMPPCTL_CONFIG: higher}})
    assert.equal(JSON.parse(raised.stdout).iterations, 7000)
  })

  it('refuses to change the password of an absent account (exit 1)', async (t) => {
    const {cli} = setup(t)
    assert.equal((await cli(['user', 'add', 'alice@example.org', '--password-stdin'], 'pw\n')).status, 0)
    const result = await cli(['user', 'passwd', 'ghost@example.org', '--password-stdin'], 'pw\n')
    assert.equal(result.status, 1)
    assert.match(result.stderr, /^error: account ghost@example\.org does not exist/)
  })
})

describe('user delete, disable, enable, info, list', () => {
  it('needs --force without a terminal, then deletes', async (t) => {
    const {cli} = setup(t)
    await cli(['user', 'add', 'alice@example.org', '--password-stdin'], 'pw\n')
    const refused = await cli(['user', 'delete', 'alice@example.org'])
    assert.deepEqual(refused, {
      status: 2,
      stdout: '',
      stderr: 'error: refusing to delete alice@example.org and its credentials without confirmation: standard input is not a terminal (add --force to confirm)\n',
    })
    assert.equal((await cli(['user', 'exists', 'alice@example.org'])).status, 0)
    assert.deepEqual(await cli(['user', 'delete', 'alice@example.org', '--force', '--json']), {status: 0, stdout: '{\n  "jid": "alice@example.org",\n  "deleted": true\n}\n', stderr: ''})
    assert.equal((await cli(['user', 'exists', 'alice@example.org'])).status, 1)
    const again = await cli(['user', 'delete', 'alice@example.org', '--force'])
    assert.equal(again.status, 1)
    assert.match(again.stderr, /does not exist/)
  })

  it('disables with a reason, shows it, and enables again', async (t) => {
    const {cli} = setup(t)
    await cli(['user', 'add', 'mallory@example.org', '--password-stdin'], 'pw\n')
    assert.deepEqual(await cli(['user', 'disable', 'mallory@example.org', '--reason', 'spam']), {status: 0, stdout: 'disabled mallory@example.org (spam)\n', stderr: ''})
    const info = json(await cli(['user', 'info', 'mallory@example.org', '--json']))
    assert.equal(info.state, 'disabled')
    assert.equal(info.disabledReason, 'spam')
    assert.match((await cli(['user', 'list', '--long'])).stdout, /^mallory@example\.org\tdisabled \(spam\)\tsha1,sha256\t4096\t/)
    assert.deepEqual(await cli(['user', 'enable', 'mallory@example.org']), {status: 0, stdout: 'enabled mallory@example.org\n', stderr: ''})
    assert.equal(json(await cli(['user', 'info', 'mallory@example.org', '--json'])).state, 'enabled')
    assert.equal((await cli(['user', 'disable', 'ghost@example.org'])).status, 1)
  })

  it('shows account information but never secrets', async (t) => {
    const {cli} = setup(t)
    await cli(['user', 'add', 'alice@example.org', '--password-stdin'], 'hunter2\n')
    const result = await cli(['user', 'info', 'alice@example.org', '--json'])
    const info = json(result)
    assert.deepEqual(Object.keys(info).sort(), ['createdAt', 'data', 'hashes', 'iterations', 'jid', 'plaintext', 'state'])
    assert.deepEqual(info.hashes, ['sha1', 'sha256'])
    assert.equal(info.iterations, 4096)
    assert.ok(!Number.isNaN(Date.parse(info.createdAt)))
    const human = await cli(['user', 'info', 'alice@example.org'])
    assert.match(human.stdout, /^jid: +alice@example\.org$/m)
    assert.match(human.stdout, /^scram: +sha1, sha256$/m)
    assert.ok(!human.stdout.includes('hunter2'))
    assert.equal((await cli(['user', 'info', 'ghost@example.org'])).status, 1)
  })

  it('lists accounts one per line, per host, and as a JSON array', async (t) => {
    const {cli} = setup(t)
    for (const jid of ['bob@example.org', 'alice@example.org', 'alice@example.net']) await cli(['user', 'add', jid, '--password-stdin'], 'pw\n')
    assert.deepEqual(await cli(['user', 'list']), {status: 0, stdout: 'alice@example.net\nalice@example.org\nbob@example.org\n', stderr: ''})
    assert.equal((await cli(['user', 'list', 'example.org'])).stdout, 'alice@example.org\nbob@example.org\n')
    const listed = json(await cli(['user', 'list', 'example.net', '--json']))
    assert.equal(listed.length, 1)
    assert.deepEqual(Object.keys(listed[0]).sort(), ['createdAt', 'hashes', 'iterations', 'jid', 'plaintext', 'state'])
    assert.deepEqual(json(await cli(['user', 'list', '--json', '-c', 'xmppctl.yml', 'example.net'])), listed)
    const unknown = await cli(['user', 'list', 'example.com'])
    assert.equal(unknown.status, 2)
    assert.match(unknown.stderr, /host example\.com is not configured/)
  })

  it('prints an empty JSON array when there are no accounts', async (t) => {
    const {cli} = setup(t)
    assert.equal((await cli(['user', 'add', 'gone@example.org', '--password-stdin'], 'pw\n')).status, 0)
    assert.equal((await cli(['user', 'delete', 'gone@example.org', '--force'])).status, 0)
    assert.deepEqual(await cli(['user', 'list', '--json']), {status: 0, stdout: '[]\n', stderr: ''})
  })

  it('commands that only read or change existing accounts never create a store, and say there is none', async (t) => {
    const {dir, cli} = setup(t)
    for (const args of [['list'], ['exists', 'a@example.org'], ['info', 'a@example.org'], ['delete', 'a@example.org', '--force'], ['disable', 'a@example.org']]) {
      const result = await cli(['user', ...args])
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stdout}`)
      assert.match(result.stderr, /^error: there is no account store in .*\/data \(check data_dir and --config/)
    }

    assert.equal(existsSync(path.join(dir, 'data')), false)
  })

  it('ends normally when its reader goes away (user list | head -1)', async (t) => {
    const {dir, cli} = setup(t)
    assert.equal((await cli(['user', 'add', 'first@example.org', '--password-stdin'], 'pw\n')).status, 0)
    // Enough accounts that stdout fills the pipe and waits for a reader that has left.
    const db = new Database(path.join(dir, 'data', 'accounts.sqlite'))
    const insert = db.prepare("INSERT INTO accounts (host, username, state, created_at) VALUES ('example.org', ?, 'enabled', ?)")
    db.transaction(() => {
      for (let index = 0; index < 30_000; index++) insert.run(`bulk${index}`, Date.now())
    })()
    db.close()
    for (const extra of ['', ' --json']) {
      const result = spawnSync('bash', ['-c', `"${process.execPath}" "${BIN}" user list${extra} | head -1; exit \${PIPESTATUS[0]}`], {cwd: dir, encoding: 'utf8', timeout: 60_000})
      assert.equal(result.status, 0, `user list${extra}: ${result.stderr}`)
      assert.equal(result.stdout, extra ? '[\n' : 'bulk0@example.org\n')
    }
  })
})

describe('global behaviour', () => {
  it('prints the version without loading the command framework', async (t) => {
    const {cli} = setup(t)
    const result = await cli(['--version'])
    assert.equal(result.status, 0)
    assert.match(result.stdout, /^xmppctl\/\d+\.\d+\.\d+ linux-\w+ node-v\d+/)
  })

  it('reports a bad configuration file with its location, exit 2', async (t) => {
    const {cli} = setup(t, 'hosts: [example.org]\nauth_methods: [internal]\n')
    const result = await cli(['user', 'list'])
    assert.equal(result.status, 2)
    assert.equal(result.stderr, 'error: xmppctl.yml:2:1: unknown key auth_methods (did you mean auth_method?)\n')
  })

  it('treats a missing argument as a usage error, exit 2', async (t) => {
    const {cli} = setup(t)
    const result = await cli(['user', 'add', '--json'])
    assert.equal(result.status, 2)
    assert.equal(json(result).error.code, 'usage')
    assert.match(json(result).error.message, /^Missing 1 required arg: jid bare JID/)
  })

  it('never takes a piped password for a forgotten JID, and never prints it', async (t) => {
    const {cli} = setup(t)
    for (const command of ['add', 'passwd', 'check']) {
      for (const extra of [[], ['--json']]) {
        const result = await cli(['user', command, '--password-stdin', ...extra], 'MyS3cretPass@example.org\n')
        assert.equal(result.status, 2, `${command}: ${result.stderr}`)
        assert.ok(!`${result.stdout}${result.stderr}`.includes('MyS3cret'), `${command} ${extra.join(' ')} printed the password`)
      }
    }

    assert.equal((await cli(['user', 'list'])).stdout, '', 'nothing was created')
  })

  it('shows help with examples for every user command', async (t) => {
    const {cli} = setup(t)
    for (const command of ['add', 'delete', 'passwd', 'check', 'exists', 'list', 'info', 'disable', 'enable']) {
      const result = await cli(['user', command, '--help'])
      assert.equal(result.status, 0, command)
      assert.match(result.stdout, /EXAMPLES/, command)
      assert.match(result.stdout, /--json/, command)
    }
  })
})
