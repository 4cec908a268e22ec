import assert from 'node:assert/strict'
import {readFileSync, readdirSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import Database from '../../src/store/sqlite/driver.js'

import {deriveScramCredentials} from '../../src/sasl/scram.js'
import {type CliResult, runCli, tempDir, writeConfig} from '../helpers.js'

const CONFIG = 'hosts: [example.org, example.net]\nauth_scram_iterations: 4096\n'
const PLAIN = `${CONFIG}auth_password_format: plain\n`

function setup(t: {after(fn: () => void): void}, config = CONFIG) {
  const dir = tempDir(t)
  writeConfig(dir, config)
  const cli = (args: string[], stdin?: string): Promise<CliResult> => runCli(args, {cwd: dir, stdin})
  const write = (name: string, text: string) => {
    const file = path.join(dir, name)
    writeFileSync(file, text)
    return file
  }

  return {dir, cli, write}
}

const json = (result: CliResult) => JSON.parse(result.stdout)

async function checks(cli: (args: string[], stdin?: string) => Promise<CliResult>, jid: string, password: string): Promise<number | null> {
  return (await cli(['user', 'check', jid, '--password-stdin'], `${password}\n`)).status
}

const CSV = [
  'jid,password',
  'alice@example.org,"pa:ss,wörd"',
  '"bob@example.org","say ""hi"""',
  'carol@example.org,',
  'bad jid@example.org,x',
  'dave@example.com,x',
  'eve@example.org,bell\u0007',
  'only-one-field',
  'Frank@EXAMPLE.net,€',
  '',
].join('\r\n')

describe('user import --from csv', () => {
  it('imports good rows, hashes them, and sorts the rest into buckets with their line', async (t) => {
    const {cli, write} = setup(t)
    const file = write('people.csv', CSV)
    const result = await cli(['user', 'import', file, '--from', 'csv', '--json'])
    assert.equal(result.status, 1, 'fewer accounts imported than the source holds')
    const summary = json(result)
    assert.deepEqual([summary.sourceAccounts, summary.notImported], [8, 5])
    assert.deepEqual(summary.counts, {
      created: 3,
      unchanged: 0,
      existing: 0,
      overwritten: 0,
      'invalid-jid': 1,
      'unknown-host': 1,
      'empty-password': 1,
      'invalid-password': 1,
      'invalid-record': 1,
    })
    assert.deepEqual(
      summary.problems.map((problem: {bucket: string; where: string}) => [problem.bucket, path.basename(problem.where)]),
      [
        ['empty-password', 'people.csv:4'],
        ['invalid-jid', 'people.csv:5'],
        ['unknown-host', 'people.csv:6'],
        ['invalid-password', 'people.csv:7'],
        ['invalid-record', 'people.csv:8'],
      ],
    )
    assert.deepEqual(summary.unknownHosts, ['example.com'])
    assert.equal(await checks(cli, 'alice@example.org', 'pa:ss,wörd'), 0)
    assert.equal(await checks(cli, 'bob@example.org', 'say "hi"'), 0)
    assert.equal(await checks(cli, 'frank@example.net', '€'), 0)
    assert.equal(await checks(cli, 'frank@example.net', '€€'), 1)
    const info = json(await cli(['user', 'info', 'alice@example.org', '--json']))
    assert.deepEqual([info.hashes, info.iterations, info.plaintext], [['sha1', 'sha256'], 4096, false])
  })

  it('prints a human summary, and the unknown hosts as a warning on stderr', async (t) => {
    const {cli, write} = setup(t)
    const file = write('people.csv', 'jid,password\nalice@example.org,pw\nzed@example.com,pw\n')
    const result = await cli(['import', file, '--from', 'csv'])
    assert.equal(result.status, 1)
    assert.equal(result.stdout, `created 1, unknown-host 1\nunknown-host: zed@example.com: host example.com is not configured (${file}:3)\n`)
    assert.equal(
      result.stderr,
      'warning: hosts not configured, their accounts skipped: example.com (add them to hosts, or rerun with --add-hosts)\n' +
        'warning: 1 of 2 accounts in the source were not imported (unknown-host 1); rerun with --allow-partial to accept this\n',
    )
    const accepted = await cli(['import', file, '--from', 'csv', '--allow-partial'])
    assert.equal(accepted.status, 0)
    assert.equal(accepted.stdout, `created 0, unchanged 1, unknown-host 1\nunknown-host: zed@example.com: host example.com is not configured (${file}:3)\n`)
    assert.match(accepted.stderr, /\nwarning: 1 of 2 accounts in the source were not imported \(unknown-host 1\)\n$/)
  })

  it('exits 1 when the source holds no account at all', async (t) => {
    const {cli, write} = setup(t)
    const file = write('empty.csv', 'jid,password\n')
    const result = await cli(['import', file, '--from', 'csv'])
    assert.equal(result.status, 1)
    assert.match(result.stderr, /empty\.csv holds no account; rerun with --allow-partial/)
  })

  it('a rerun finds the accounts it imported unchanged, and exits 0', async (t) => {
    const {cli, write} = setup(t, `${CONFIG}host_config:\n  example.net: {auth_password_format: plain}\n`)
    const file = write('people.csv', 'alice@example.org,pw\nbob@example.net,plain pw\n')
    assert.equal((await cli(['import', file, '--from', 'csv'])).status, 0)
    const rerun = await cli(['import', file, '--from', 'csv', '--json'])
    assert.equal(rerun.status, 0, rerun.stderr)
    assert.deepEqual([json(rerun).counts.created, json(rerun).counts.unchanged, json(rerun).counts.existing], [0, 2, 0])
  })

  it('--dry-run reports the same buckets and writes nothing', async (t) => {
    const {cli, write} = setup(t)
    const file = write('people.csv', CSV)
    const result = json(await cli(['user', 'import', file, '--from', 'csv', '--dry-run', '--json']))
    assert.equal(result.dryRun, true)
    assert.equal(result.counts.created, 3)
    assert.equal((await cli(['user', 'exists', 'alice@example.org'])).status, 1)
  })

  it('--add-hosts adds the unknown hosts to the configuration file and imports their accounts', async (t) => {
    const {cli, write, dir} = setup(t)
    const file = write('people.csv', 'jid,password\nzed@example.com,secret\n')
    const result = json(await cli(['user', 'import', file, '--from', 'csv', '--add-hosts', '--json']))
    assert.deepEqual([result.counts.created, result.addedHosts], [1, ['example.com']])
    assert.match(readFileSync(path.join(dir, 'xmppctl.yml'), 'utf8'), /hosts: \[ example\.org, example\.net, example\.com \]/)
    assert.equal(await checks(cli, 'zed@example.com', 'secret'), 0)
  })

  it('keeps plaintext when the host stores plain passwords', async (t) => {
    const {cli, write} = setup(t, PLAIN)
    const file = write('people.csv', 'alice@example.org,pw\n')
    assert.equal(json(await cli(['user', 'import', file, '--from', 'csv', '--json'])).counts.created, 1)
    const info = json(await cli(['user', 'info', 'alice@example.org', '--json']))
    assert.deepEqual([info.hashes, info.plaintext], [[], true])
  })
})

describe('user import --on-conflict', () => {
  async function withExisting(t: {after(fn: () => void): void}) {
    const context = setup(t)
    assert.equal((await context.cli(['user', 'add', 'alice@example.org', '--password-stdin'], 'old\n')).status, 0)
    const file = context.write('people.csv', 'alice@example.org,new\nbob@example.org,bobpw\n')
    return {...context, file}
  }

  it('skip (the default) leaves an existing account alone and lists it', async (t) => {
    const {cli, file} = await withExisting(t)
    const run = await cli(['user', 'import', file, '--from', 'csv', '--json'])
    assert.equal(run.status, 1, 'an account left alone with another password is not imported')
    const result = json(run)
    assert.deepEqual([result.counts.created, result.counts.existing, result.existing, result.notImported], [1, 1, ['alice@example.org'], 1])
    assert.equal(await checks(cli, 'alice@example.org', 'old'), 0)
  })

  it('overwrite replaces the password of an existing account', async (t) => {
    const {cli, file} = await withExisting(t)
    const result = json(await cli(['user', 'import', file, '--from', 'csv', '--on-conflict', 'overwrite', '--json']))
    assert.deepEqual([result.counts.created, result.counts.overwritten], [1, 1])
    assert.equal(await checks(cli, 'alice@example.org', 'new'), 0)
  })

  it('fail writes nothing at all and exits 1 naming the conflict', async (t) => {
    const {cli, file} = await withExisting(t)
    const result = await cli(['user', 'import', file, '--from', 'csv', '--on-conflict', 'fail'])
    assert.equal(result.status, 1)
    assert.equal(result.stdout, '')
    assert.match(result.stderr, /^error: 1 account of the source already exists \(alice@example\.org\); nothing was written \(rerun with --on-conflict skip/)
    assert.equal((await cli(['user', 'exists', 'bob@example.org'])).status, 1)
    assert.equal(await checks(cli, 'alice@example.org', 'old'), 0)
  })
})

describe('user import --from xep0227', () => {
  const SCRAM_SHA1 = {
    // RFC 5802 §5: user "user", password "pencil", 4096 iterations.
    salt: 'QSXCR+Q6sek8bf92',
    storedKey: '6dlGYMOdZcOPutkcNY8U2g7vK9Y=',
    serverKey: 'D+CSWLOshSulAsxiupA+qs2/fTE=',
  }

  it('imports SCRAM credentials as they are, plaintext hashed, the roster into the store and other data into a side file', async (t) => {
    const {cli, write, dir} = setup(t)
    const file = write(
      'pie.xml',
      `<?xml version='1.0' encoding='UTF-8'?>
<server-data xmlns='urn:xmpp:pie:0'>
  <host jid='example.org'>
    <user name='user'>
      <scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'>
        <iter-count>4096</iter-count><salt>${SCRAM_SHA1.salt}</salt>
        <server-key>${SCRAM_SHA1.serverKey}</server-key><stored-key>${SCRAM_SHA1.storedKey}</stored-key>
      </scram-credentials>
      <query xmlns='jabber:iq:roster'><item jid='bob@example.org' name='Bob &amp; co' subscription='both'><group>Friends</group></item></query>
      <query xmlns='jabber:iq:privacy'><list name='quiet'/></query>
    </user>
    <user name='plain' password='pa:ss &lt;€&gt;'/>
    <user name='nothing'/>
    <user name='broken'>
      <scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'><iter-count>4096</iter-count><salt>QSXCR+Q6sek8bf92</salt></scram-credentials>
    </user>
  </host>
</server-data>
`,
    )
    const result = await cli(['user', 'import', file, '--from', 'xep0227', '--json', '--allow-partial'])
    assert.equal(result.status, 0, result.stderr)
    const summary = json(result)
    assert.deepEqual([summary.counts.created, summary.counts['empty-password'], summary.counts['invalid-record']], [2, 1, 1])
    assert.match(summary.problems.find((problem: {bucket: string}) => problem.bucket === 'invalid-record').reason, /lack <server-key>, <stored-key>/)
    assert.equal(await checks(cli, 'user@example.org', 'pencil'), 0)
    assert.equal(await checks(cli, 'plain@example.org', 'pa:ss <€>'), 0)
    assert.equal(summary.data.rosterItems, 1)
    assert.equal(summary.sideFileUsers, 1)
    assert.equal(path.dirname(summary.sideFile), path.join(dir, 'data', 'imported-user-data'))
    assert.equal(statSync(summary.sideFile).mode & 0o777, 0o600)
    const side = readFileSync(summary.sideFile, 'utf8')
    assert.match(side, /<host jid="example\.org">\n<user name="user"><query xmlns='jabber:iq:privacy'><list name='quiet'\/><\/query><\/user>/)
    // The side file is XEP-0227 itself: it imports (as accounts without passwords, so nothing is created).
    assert.equal(json(await cli(['user', 'import', summary.sideFile, '--from', 'xep0227', '--dry-run', '--json'])).counts['empty-password'], 1)
  })

  it('refuses a DOCTYPE (and so any entity) without importing anything after it', async (t) => {
    const {cli, write} = setup(t)
    const file = write(
      'evil.xml',
      `<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>\n<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'><user name='a' password='&lol2;'/></host></server-data>\n`,
    )
    const result = await cli(['user', 'import', file, '--from', 'xep0227'])
    assert.equal(result.status, 2)
    assert.match(result.stderr, /^error: .*evil\.xml: the file has a DOCTYPE; DTDs and entity declarations are refused/)
    assert.equal((await cli(['user', 'exists', 'a@example.org'])).status, 1)
  })

  it('refuses a file that is not XEP-0227', async (t) => {
    const {cli, write} = setup(t)
    const file = write('other.xml', '<accounts><user name="a"/></accounts>')
    const result = await cli(['user', 'import', file, '--from', 'xep0227'])
    assert.equal(result.status, 2)
    assert.match(result.stderr, /the root element is <accounts>, not XEP-0227's <server-data/)
  })
})

/** ejabberd's multi-host `users` table (sql/lite.new.sql), empty. */
function multiHostUsers(file: string): Database.Database {
  const db = new Database(file)
  db.exec(`CREATE TABLE users (username text NOT NULL, server_host text NOT NULL, password text NOT NULL, serverkey text NOT NULL DEFAULT '',
    salt text NOT NULL DEFAULT '', iterationcount integer NOT NULL DEFAULT 0, created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (server_host, username))`)
  return db
}

describe('user import --from ejabberd-sql (SQLite file)', () => {
  it('reads the multi-host schema (SCRAM and plaintext) and the single-host one with --host', async (t) => {
    const {cli, dir} = setup(t)
    const multi = path.join(dir, 'multi.db')
    const db = multiHostUsers(multi)
    db.prepare('INSERT INTO users (username, server_host, password, serverkey, salt, iterationcount) VALUES (?, ?, ?, ?, ?, ?)').run(
      'user', 'example.org', '6dlGYMOdZcOPutkcNY8U2g7vK9Y=', 'D+CSWLOshSulAsxiupA+qs2/fTE=', 'QSXCR+Q6sek8bf92', 4096,
    )
    db.prepare('INSERT INTO users (username, server_host, password) VALUES (?, ?, ?)').run('plain', 'example.net', 'pa:ss€')
    db.close()
    const result = json(await cli(['user', 'import', multi, '--from', 'ejabberd-sql', '--json']))
    assert.equal(result.counts.created, 2)
    assert.equal(await checks(cli, 'user@example.org', 'pencil'), 0)
    assert.equal(await checks(cli, 'plain@example.net', 'pa:ss€'), 0)

    const single = path.join(dir, 'single.db')
    const one = new Database(single)
    one.exec("CREATE TABLE users (username text PRIMARY KEY, password text NOT NULL, serverkey text NOT NULL DEFAULT '', salt text NOT NULL DEFAULT '', iterationcount integer NOT NULL DEFAULT 0)")
    one.prepare('INSERT INTO users (username, password) VALUES (?, ?)').run('solo', 'solo pw')
    one.close()
    const refused = await cli(['user', 'import', single, '--from', 'ejabberd-sql'])
    assert.equal(refused.status, 2)
    assert.match(refused.stderr, /single-host schema.*add --host/)
    assert.equal(json(await cli(['user', 'import', single, '--from', 'ejabberd-sql', '--host', 'example.net', '--json'])).counts.created, 1)
    assert.equal(await checks(cli, 'solo@example.net', 'solo pw'), 0)
  })
})

describe('user import --from ejabberd-sql with auth_scram_hash sha256 or sha512', () => {
  it("reads ejabberd 23.01's 'sha256:'-prefixed stored key (no type column) as SCRAM-SHA-256", async (t) => {
    const {cli, dir} = setup(t)
    const file = path.join(dir, 'sha256.db')
    const db = multiHostUsers(file)
    const insert = db.prepare('INSERT INTO users (username, server_host, password, serverkey, salt, iterationcount) VALUES (?, ?, ?, ?, ?, ?)')
    for (const hash of ['sha256', 'sha512'] as const) {
      const credentials = await deriveScramCredentials('pencil', hash, {iterations: 4096})
      // ejabberd_auth_sql:scram_hash_encode/2: the hash's name, a colon, the base64 stored key.
      insert.run(hash, 'example.org', `${hash}:${credentials.storedKey.toString('base64')}`, credentials.serverKey.toString('base64'), credentials.salt.toString('base64'), 4096)
    }

    db.close()
    const result = await cli(['user', 'import', file, '--from', 'ejabberd-sql', '--json'])
    assert.equal(result.status, 0, result.stdout + result.stderr)
    assert.deepEqual(json(result).counts.created, 2)
    for (const hash of ['sha256', 'sha512']) {
      assert.deepEqual(json(await cli(['user', 'info', `${hash}@example.org`, '--json'])).hashes, [hash])
      assert.equal(await checks(cli, `${hash}@example.org`, 'pencil'), 0)
      assert.equal(await checks(cli, `${hash}@example.org`, 'pencil!'), 1)
    }
  })
})

describe('user export', () => {
  it('--help says what --ejabberd writes: <scram-credentials>, not a password attribute', async (t) => {
    const {cli} = setup(t)
    const help = await cli(['user', 'export', '--help'])
    assert.equal(help.status, 0)
    assert.match(help.stdout.replace(/\s+/g, ' '), / --ejabberd xep0227: for ejabberdctl import_piefxis: one <scram-credentials> element per account /)
    assert.doesNotMatch(help.stdout, /password="scram/)
  })

  it('writes XEP-0227 that imports back into a new store with every password', async (t) => {
    const {cli, dir} = setup(t)
    await cli(['user', 'add', 'alice@example.org', '--password-stdin'], 'pässwörd\n')
    await cli(['user', 'add', 'bob@example.net', '--password-stdin'], 'b:o:b\n')
    const file = path.join(dir, 'all.xml')
    const result = await cli(['export', file, '--to', 'xep0227'])
    assert.deepEqual(result, {status: 0, stdout: `exported 2 accounts to ${file}\n`, stderr: ''})
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.match(readFileSync(file, 'utf8'), /<scram-credentials xmlns="urn:xmpp:pie:0#scram" mechanism="SCRAM-SHA-256"><iter-count>4096<\/iter-count>/)
    const refused = await cli(['export', file, '--to', 'xep0227'])
    assert.equal(refused.status, 2)
    assert.match(refused.stderr, /already exists \(choose another destination, or add --force/)

    const other = setup(t)
    assert.equal(json(await other.cli(['import', file, '--from', 'xep0227', '--json'])).counts.created, 2)
    assert.equal(await checks(other.cli, 'alice@example.org', 'pässwörd'), 0)
    assert.equal(await checks(other.cli, 'bob@example.net', 'b:o:b'), 0)
    const info = json(await other.cli(['user', 'info', 'bob@example.net', '--json']))
    assert.deepEqual(info.hashes, ['sha1', 'sha256'])
  })

  it('writes one file per host into a directory', async (t) => {
    const {cli, dir, write} = setup(t)
    await cli(['user', 'add', 'alice@example.org', '--password-stdin'], 'pw\n')
    write('keep', '')
    const out = path.join(dir, 'out')
    const {mkdirSync} = await import('node:fs')
    mkdirSync(out)
    const result = json(await cli(['export', out, '--to', 'xep0227', '--json']))
    assert.deepEqual(result.files.map((file: string) => path.basename(file)), ['example.org.xml', 'example.net.xml'])
    assert.deepEqual(readdirSync(out).sort(), ['example.net.xml', 'example.org.xml'])
  })

  it('writes CSV (0600, with a warning) only for accounts with plaintext, and it imports back', async (t) => {
    const {cli, dir, write} = setup(t, PLAIN)
    await cli(['import', write('in.csv', 'alice@example.org,"a,b ""c"""\nbob@example.org,€\n'), '--from', 'csv'])
    const file = path.join(dir, 'out.csv')
    const result = await cli(['export', file, '--to', 'csv'])
    assert.equal(result.status, 0)
    assert.equal(result.stdout, `exported 2 accounts to ${file}\n`)
    assert.match(result.stderr, /^warning: .*out\.csv contains plaintext passwords: it was created readable by you alone \(0600\)/)
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.equal(readFileSync(file, 'utf8'), 'jid,password\r\nalice@example.org,"a,b ""c"""\r\nbob@example.org,€\r\n')
    const other = setup(t)
    assert.equal(json(await other.cli(['import', file, '--from', 'csv', '--json'])).counts.created, 2)
    assert.equal(await checks(other.cli, 'alice@example.org', 'a,b "c"'), 0)
  })
})

describe('scram convert', () => {
  async function plainStore(t: {after(fn: () => void): void}) {
    const context = setup(t, PLAIN)
    const file = context.write('in.csv', 'alice@example.org,pässwörd\nbob@example.net,b:o:b\n')
    assert.equal(json(await context.cli(['import', file, '--from', 'csv', '--json'])).counts.created, 2)
    writeConfig(context.dir, CONFIG) // the operator switches auth_password_format to scram
    // An account whose stored password SASLprep refuses, as another server may have kept it.
    const db = new Database(path.join(context.dir, 'data', 'accounts.sqlite'))
    db.prepare("INSERT INTO accounts (host, username, state, created_at, plaintext) VALUES ('example.org', 'eve', 'enabled', 0, ?)").run('bell\u0007')
    db.close()
    return context
  }

  it('refuses without a terminal unless --yes, changing nothing', async (t) => {
    const {cli} = await plainStore(t)
    const result = await cli(['scram', 'convert'])
    assert.equal(result.status, 2)
    assert.match(result.stderr, /^error: refusing to convert the plaintext passwords of 3 accounts to SCRAM .*add --yes to confirm/)
    assert.equal(json(await cli(['user', 'info', 'alice@example.org', '--json'])).plaintext, true)
  })

  it('--dry-run counts per host and names the passwords that cannot be converted', async (t) => {
    const {cli} = await plainStore(t)
    const result = await cli(['scram', 'convert', '--dry-run'])
    assert.equal(result.status, 0)
    assert.equal(
      result.stdout,
      [
        'example.org: would convert 1, already SCRAM 0, failed 1 (SCRAM-SHA-1, SCRAM-SHA-256, 4096 iterations)',
        'example.net: would convert 1, already SCRAM 0, failed 0 (SCRAM-SHA-1, SCRAM-SHA-256, 4096 iterations)',
        'dry run: would convert 2, already 0, failed 1',
        'failed: eve@example.org: the password contains a control character (U+0007) at position 5, which SASLprep (RFC 4013) forbids',
        '',
      ].join('\n'),
    )
    assert.equal(json(await cli(['user', 'info', 'alice@example.org', '--json'])).plaintext, true)
  })

  it('converts with --yes, reports the buckets, keeps every password, and a rerun finds them already done', async (t) => {
    const {cli, dir} = await plainStore(t)
    const backup = path.join(dir, 'backup.xml')
    const result = await cli(['scram', 'convert', '--yes', '--hash', 'sha256,SHA-512', '--iterations', '5000', '--backup', backup, '--json'])
    assert.equal(result.status, 0, result.stderr)
    const summary = json(result)
    assert.deepEqual([summary.converted, summary.already, summary.failedCount, summary.backup], [2, 0, 1, backup])
    assert.deepEqual(summary.failed[0].jid, 'eve@example.org')
    assert.match(readFileSync(backup, 'utf8'), /<user name="alice" password="pässwörd"\/>/)
    assert.equal(statSync(backup).mode & 0o777, 0o600)
    const info = json(await cli(['user', 'info', 'alice@example.org', '--json']))
    assert.deepEqual([info.hashes, info.iterations, info.plaintext], [['sha256', 'sha512'], 5000, false])
    assert.equal(await checks(cli, 'alice@example.org', 'pässwörd'), 0)
    assert.equal(await checks(cli, 'bob@example.net', 'b:o:b'), 0)
    assert.equal(await checks(cli, 'bob@example.net', 'b:o:c'), 1)
    const again = json(await cli(['scram', 'convert', '--yes', '--json']))
    assert.deepEqual([again.converted, again.already, again.failedCount], [0, 2, 1])
  })

  it('refuses an unknown hash or host with exit 2', async (t) => {
    const {cli} = await plainStore(t)
    assert.match((await cli(['scram', 'convert', '--yes', '--hash', 'md5'])).stderr, /^error: --hash "md5" names an unknown hash \(md5\)/)
    const host = await cli(['scram', 'convert', 'example.com', '--yes'])
    assert.equal(host.status, 2)
    assert.match(host.stderr, /^error: host example\.com is not configured/)
  })
})
