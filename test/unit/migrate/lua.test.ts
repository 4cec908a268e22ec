import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {type LuaTable, parseLuaData, parseLuaList} from '../../../src/migrate/lua.js'
import {fromPreserialized, prosodyStoreName} from '../../../src/migrate/prosody-data.js'
import {decodeProsodyName, prosodyAccount} from '../../../src/migrate/prosody.js'

const table = (text: string) => parseLuaData(Buffer.from(text, 'latin1')) as LuaTable

describe('the Lua data reader', () => {
  it('reads what Prosody writes for internal_hashed, with string keys and ; separators', () => {
    const value = table('return {\n\t["stored_key"] = "b341";\n\t["iteration_count"] = 10000;\n\t["salt"] = "1314523a-00c9";\n};\n')
    assert.deepEqual([...value.entries.keys()], ['stored_key', 'iteration_count', 'salt'])
    assert.equal(value.entries.get('iteration_count'), 10000)
    assert.deepEqual(value.entries.get('salt'), Buffer.from('1314523a-00c9'))
  })

  it('decodes decimal, hex, \\z, \\u{} and simple escapes to bytes', () => {
    const value = table(String.raw`return { password = "\226\130\172 p\195\164ss\"\\\n\x41\u{20AC}\z
        end" }`)
    assert.equal((value.entries.get('password') as Buffer).toString('utf8'), '€ päss"\\\nA€end')
  })

  it('reads long strings, comments, nested tables, booleans, nil and positional values', () => {
    const value = table('-- header\nreturn { [ [==[long]==] ] = [[\nline]], nested = { 1, 2.5, -3, 0x10, true, false, nil }; --[[ block ]] }')
    assert.deepEqual(value.entries.get('long'), Buffer.from('line'))
    const nested = value.entries.get('nested') as LuaTable
    assert.deepEqual([...nested.entries.values()], [1, 2.5, -3, 16, true, false, null])
  })

  const refused: Array<[string, string, RegExp]> = [
    ['a function call', 'return os.execute("rm -rf /")', /unexpected name os; only data is read|only data/],
    ['a call inside a table', 'return { x = io.open("/etc/passwd") }', /only data/],
    ['a function', 'return { x = function() end }', /only data/],
    ['a string concatenation', 'return { x = "a" .. "b" }', /expected ",", ";" or "}"/],
    ['an unfinished string', 'return { x = "abc }', /unfinished string/],
    ['text after the value', 'return {} os.exit()', /unexpected text after the value/],
    ['a decimal escape above 255', 'return { x = "\\256" }', /larger than 255/],
    ['deep nesting', `return ${'{'.repeat(40)}${'}'.repeat(40)}`, /nested deeper than 32/],
  ]
  for (const [what, source, message] of refused) {
    it(`refuses ${what} without running anything`, () => {
      assert.throws(() => parseLuaData(Buffer.from(source)), message)
    })
  }
})

describe('Prosody account files', () => {
  it('decodes %-encoded host and user names, refusing broken escapes and invalid UTF-8', () => {
    assert.equal(decodeProsodyName('a%2eb%2dc%5fd'), 'a.b-c_d')
    assert.equal(decodeProsodyName('%c3%bcmlaut'), 'ümlaut')
    assert.equal(decodeProsodyName('bad%2'), undefined)
    assert.equal(decodeProsodyName('%ff'), undefined)
  })

  it('turns hex keys into bytes, keeps the salt string as bytes, and tells the hash by key length', () => {
    const sha256 = table(`return { stored_key = "${'ab'.repeat(32)}"; server_key = "${'cd'.repeat(32)}"; salt = "uuid-salt"; iteration_count = 4096 }`)
    const record = prosodyAccount('f.dat', 'example.org', 'alice', sha256)
    assert.equal(record.kind, 'account')
    if (record.kind !== 'account') return
    assert.deepEqual(record.credentials[0], {hash: 'sha256', salt: Buffer.from('uuid-salt'), iterations: 4096, storedKey: Buffer.alloc(32, 0xab), serverKey: Buffer.alloc(32, 0xcd)})
  })

  it('reports keys that are not hex, a missing salt and an unknown key length as invalid', () => {
    const reasons = [
      'return { stored_key = "zz"; server_key = "zz"; salt = "s"; iteration_count = 1 }',
      `return { stored_key = "${'ab'.repeat(20)}"; server_key = "${'ab'.repeat(20)}"; iteration_count = 1 }`,
      `return { stored_key = "${'ab'.repeat(21)}"; server_key = "${'ab'.repeat(21)}"; salt = "s"; iteration_count = 1 }`,
    ].map((text) => {
      const record = prosodyAccount('f.dat', 'h', 'u', table(text))
      return record.kind === 'invalid' ? record.reason : 'accepted'
    })
    assert.deepEqual(reasons, ['stored_key and server_key must both be hex strings', 'the account has keys but no salt string', 'a 21-byte stored_key matches no SCRAM hash'])
  })
})

describe('Prosody list stores (mod_storage_internal archives)', () => {
  it('reads each item(<table>); of a .list file as data, and util.stanza tables as elements', () => {
    const items = parseLuaList(
      Buffer.from('item({\n\t{ "hi"; ["name"] = "body"; ["attr"] = { ["xmlns"] = "jabber:client"; }; };\n\t["when"] = 1672653600.5;\n\t["attr"] = { ["to"] = "a@x"; ["stamp"] = "2023-01-02T10:00:00Z"; ["xmlns"] = "jabber:client"; ["from"] = "b@x/r"; };\n\t["name"] = "message";\n\t["key"] = "k1";\n});\nitem({ ["name"] = "message"; ["attr"] = {}; });\n'),
    )
    assert.equal(items.length, 2)
    assert.equal((items[0] as LuaTable).entries.get('when'), 1672653600.5)
    // mod_storage_internal's stamp attribute on the item is its own, not the stanza's; attributes come sorted.
    assert.equal(fromPreserialized(items[0], 'jabber:client', true).toString(), "<message xmlns='jabber:client' from='b@x/r' to='a@x'><body>hi</body></message>")
    assert.equal(prosodyStoreName('pep_urn:xmpp:avatar:metadata'), 'pep_urn%3axmpp%3aavatar%3ametadata')
  })

  for (const [what, source] of [
    ['another call', 'os.execute("id");'],
    ['code between items', 'item({}); x = 1'],
    ['an item that is not data', 'item(io.open("/etc/passwd"));'],
  ]) {
    it(`refuses ${what} in a list without running anything`, () => {
      assert.throws(() => parseLuaList(Buffer.from(source)), /expected item|only data|unexpected name/)
    })
  }
})
