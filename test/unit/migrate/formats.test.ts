import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {opendir} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {describe, it} from 'node:test'

import {progressLine} from '../../../src/cli/progress.js'
import {csvField, csvRows} from '../../../src/migrate/csv.js'
import {readProsody} from '../../../src/migrate/prosody.js'
import {formatUser, readXep0227} from '../../../src/migrate/xep0227.js'

async function rows(chunks: string[]) {
  const out = []
  for await (const row of csvRows((async function* () {
    yield* chunks
  })())) out.push(row)
  return out
}

describe('CSV (RFC 4180)', () => {
  it('splits quoted fields with commas, doubled quotes and line breaks, CRLF or LF', async () => {
    const result = await rows(['a,"b,c"\r\n"d ""e""","f\ng"\nh,\n'])
    assert.deepEqual(result.map((row) => row.fields), [['a', 'b,c'], ['d "e"', 'f\ng'], ['h', '']])
    assert.deepEqual(result.map((row) => row.line), [1, 2, 4])
  })

  it('gives the same rows however the input is split into chunks', async () => {
    const text = 'jid,password\r\n"x@y","a""b"\r\nz@y,"c,d"\r\n'
    const whole = (await rows([text])).map((row) => row.fields)
    for (let cut = 1; cut < text.length; cut++) {
      assert.deepEqual((await rows([text.slice(0, cut), text.slice(cut)])).map((row) => row.fields), whole, `split at ${cut}`)
    }
  })

  it('flags a stray quote and an unclosed quoted field', async () => {
    assert.equal((await rows(['a"b,c\n']))[0].problem, 'a quote inside an unquoted field')
    assert.equal((await rows(['"abc,d\n']))[0].problem, 'a quoted field is not closed')
  })

  it('quotes a field only when it must', () => {
    assert.deepEqual(['plain', 'a,b', 'say "hi"', ' padded'].map(csvField), ['plain', '"a,b"', '"say ""hi"""', '" padded"'])
  })
})

describe('XEP-0227 reading', () => {
  function file(t: {after(fn: () => void): void}, text: string): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'xmppctl-pie-'))
    t.after(() => rmSync(dir, {recursive: true, force: true}))
    const name = path.join(dir, 'pie.xml')
    writeFileSync(name, text)
    return name
  }

  async function read(source: string) {
    const records = []
    for await (const record of readXep0227(source)) records.push(record)
    return records
  }

  it("recognises ejabberd's doubly base64-encoded keys and its per-host files rooted at <host>", async (t) => {
    const twice = (text: string) => Buffer.from(text).toString('base64')
    const source = file(
      t,
      `<?xml version='1.0' encoding='UTF-8'?><host xmlns='urn:xmpp:pie:0' jid='ej.test'><user name='user'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'><iter-count>4096</iter-count><salt>${twice('QSXCR+Q6sek8bf92')}</salt><server-key>${twice('D+CSWLOshSulAsxiupA+qs2/fTE=')}</server-key><stored-key>${twice('6dlGYMOdZcOPutkcNY8U2g7vK9Y=')}</stored-key></scram-credentials></user></host>`,
    )
    const [record] = await read(source)
    assert.equal(record.kind, 'account')
    if (record.kind !== 'account') return
    assert.equal(record.host, 'ej.test')
    assert.deepEqual(record.credentials[0].salt, Buffer.from('QSXCR+Q6sek8bf92', 'base64'))
    assert.deepEqual(record.credentials[0].storedKey, Buffer.from('6dlGYMOdZcOPutkcNY8U2g7vK9Y=', 'base64'))
  })

  it('refuses deep nesting and processing instructions', async (t) => {
    const deep = file(t, `<server-data xmlns='urn:xmpp:pie:0'>${'<a>'.repeat(70)}${'</a>'.repeat(70)}</server-data>`)
    await assert.rejects(read(deep), /nested deeper than 64/)
    const pi = file(t, `<server-data xmlns='urn:xmpp:pie:0'><?evil x?></server-data>`)
    await assert.rejects(read(pi), /processing instruction/)
  })

  describe('xi:include, as ejabberdctl export_piefxis DIR writes it', () => {
    // ejabberd_piefxis:export_hosts/2 (23.01): a main file of xi:includes, one <host>-rooted file per host.
    const main = (...hrefs: string[]) =>
      `<?xml version='1.0' encoding='UTF-8'?><server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'>${hrefs.map((href) => `<xi:include href='${href}'/>`).join('')}</server-data>`
    const hostFile = (host: string, user: string) =>
      `<?xml version='1.0' encoding='UTF-8'?><host xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude' jid='${host}'><user name='${user}' password='secret'/></host>`

    function dir(t: {after(fn: () => void): void}, files: Record<string, string>): string {
      const root = mkdtempSync(path.join(tmpdir(), 'xmppctl-pie-'))
      t.after(() => rmSync(root, {recursive: true, force: true}))
      for (const [name, text] of Object.entries(files)) {
        mkdirSync(path.dirname(path.join(root, name)), {recursive: true})
        writeFileSync(path.join(root, name), text)
      }

      return root
    }

    const jids = (records: Awaited<ReturnType<typeof read>>) => records.map((record) => (record.kind === 'account' ? `${record.username}@${record.host}` : record.reason))

    it('follows the main file into each host file, relative to it', async (t) => {
      const root = dir(t, {
        '20230101-120000.xml': main('20230101-120000_a_test.xml', '20230101-120000_b_test.xml'),
        '20230101-120000_a_test.xml': hostFile('a.test', 'alice'),
        '20230101-120000_b_test.xml': hostFile('b.test', 'bob'),
      })
      assert.deepEqual(jids(await read(path.join(root, '20230101-120000.xml'))), ['alice@a.test', 'bob@b.test'])
      // The whole directory: each host file once, though it is both listed and included.
      assert.deepEqual(jids(await read(root)), ['alice@a.test', 'bob@b.test'])
    })

    it('refuses a URI, an absolute path, a path out of the directory, a missing file and a loop', async (t) => {
      const root = dir(t, {'outside.xml': hostFile('o.test', 'eve'), 'sub/loop.xml': main('loop.xml'), 'sub/other.xml': hostFile('x.test', 'x')})
      const cases: Array<[string, RegExp]> = [
        ['http://example.org/h.xml', /names a URI/],
        ['file:other.xml', /names a URI/],
        [path.join(root, 'sub', 'other.xml'), /is an absolute path/],
        ['../outside.xml', /leaves the directory/],
        ['missing.xml', /cannot be read/],
      ]
      for (const [href, expected] of cases) {
        writeFileSync(path.join(root, 'sub', 'main.xml'), main(href))
        await assert.rejects(read(path.join(root, 'sub', 'main.xml')), expected, href)
      }

      await assert.rejects(read(path.join(root, 'sub', 'loop.xml')), /a loop/)
      writeFileSync(path.join(root, 'sub', 'main.xml'), main('other.xml').replace('/>', ' parse="text"/>'))
      await assert.rejects(read(path.join(root, 'sub', 'main.xml')), /not parse or xpointer/)
    })
  })

  it('reads back what formatUser writes, ejabberd flavour included', async (t) => {
    const credentials = [{hash: 'sha1' as const, salt: Buffer.from('salt'), iterations: 4096, storedKey: Buffer.alloc(20, 1), serverKey: Buffer.alloc(20, 2)}]
    for (const ejabberd of [false, true]) {
      const source = file(t, `<server-data xmlns="urn:xmpp:pie:0"><host jid="h">${formatUser('a&b', {plaintext: 'p<w', credentials}, {ejabberd})}</host></server-data>`)
      const [record] = await read(source)
      assert.deepEqual(record, {kind: 'account', where: `${source}:1`, host: 'h', username: 'a&b', password: 'p<w', credentials, extra: undefined})
    }
  })
})

describe('Prosody data directory reading', () => {
  it('yields every account file in order, read ahead, and one problem record for each file that is no account', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'xmppctl-prosody-'))
    t.after(() => rmSync(dir, {recursive: true, force: true}))
    const accounts = path.join(dir, 'example%2eorg', 'accounts')
    const vcards = path.join(dir, 'example%2eorg', 'vcard')
    mkdirSync(accounts, {recursive: true})
    mkdirSync(vcards)
    // More accounts than are read at once (32), so that the order is kept across the window.
    const names = Array.from({length: 80}, (_, index) => `u${String(index).padStart(2, '0')}`)
    for (const name of names) {
      writeFileSync(path.join(accounts, `${name}.dat`), `return { ["password"] = "pw ${name}"; };\n`)
      writeFileSync(path.join(vcards, `${name}.dat`), `return { ["name"] = "vCard"; ["attr"] = { ["xmlns"] = "vcard-temp"; }; { ["name"] = "FN"; ["attr"] = {}; "${name}"; }; };\n`)
    }

    writeFileSync(path.join(accounts, 'big.dat'), `return { ["password"] = "${'x'.repeat(1024 * 1024)}"; };\n`)
    writeFileSync(path.join(accounts, 'notlua.dat'), 'os.exit(1)\n')
    writeFileSync(path.join(accounts, 'badvcard.dat'), 'return { ["password"] = "pw"; };\n')
    writeFileSync(path.join(vcards, 'badvcard.dat'), 'return {\n')
    writeFileSync(path.join(accounts, 'bad%zz.dat'), 'return {};\n')
    const records = []
    for await (const record of readProsody(dir)) records.push(record)
    const good = records.filter((record) => record.kind === 'account')
    const order = records.map((record) => path.basename(record.where))
    assert.deepEqual(good.map((record) => record.kind === 'account' && [record.username, record.password, record.data?.vcard?.getChildText('FN', 'vcard-temp')]).sort(), names.map((name) => [name, `pw ${name}`, name]))
    // The directory's own order (opendir's, unsorted: readdir sorts) is the order records come out in.
    const listed = []
    for await (const entry of await opendir(accounts)) listed.push(entry.name)
    assert.deepEqual(order, listed)
    const problems = Object.fromEntries(records.filter((record) => record.kind === 'invalid').map((record) => [path.basename(record.where), record.kind === 'invalid' && record.reason]))
    assert.equal(problems['big.dat'], 'the account file is larger than 1 MiB')
    assert.match(problems['notlua.dat'] as string, /^not a Lua data table: /)
    assert.match(problems['badvcard.dat'] as string, /vcard.badvcard\.dat: not Lua data: /)
    assert.equal(problems['bad%zz.dat'], 'the file name is not a valid %-encoded UTF-8 user name')
  })
})

describe('the progress line', () => {
  it('shows a bar, percentage, rate and time left when the total is known', () => {
    assert.equal(progressLine('converting', 500, 2000, 10, 80), 'converting [##########-----------------------------]  25% 500/2000 50/s ETA 0:30')
  })

  it('shows the count and rate alone when the total is unknown', () => {
    assert.equal(progressLine('importing', 12000, undefined, 2), 'importing 12000 6000/s')
  })
})
