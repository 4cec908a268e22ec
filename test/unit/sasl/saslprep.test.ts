import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {saslprep} from '@mongodb-js/saslprep'

import {PasswordError} from '../../../src/errors.js'
import {preparePassword, prepareUsername} from '../../../src/sasl/saslprep.js'

describe('SASLprep of printable ASCII (answered without the library)', () => {
  it('is what the library answers, for every printable ASCII character alone and in a string', () => {
    const printable = Array.from({length: 0x7f - 0x20}, (_, index) => String.fromCharCode(0x20 + index))
    for (const input of [...printable, printable.join(''), ' leading and trailing ', 'pa:ss wo=rd,']) {
      assert.equal(preparePassword(input), saslprep(input, {allowUnassigned: false}), JSON.stringify(input))
      assert.equal(prepareUsername(input), saslprep(input, {allowUnassigned: true}), JSON.stringify(input))
    }
  })

  it('still refuses ASCII control characters', () => {
    for (const code of [0x00, 0x07, 0x1f, 0x7f]) assert.throws(() => preparePassword(`a${String.fromCharCode(code)}b`), PasswordError)
  })
})

describe('SASLprep mapping (RFC 4013 §2)', () => {
  const table = [
    {input: 'pencil', prepared: 'pencil', why: 'ASCII is unchanged'},
    {input: 'I\u00ADX', prepared: 'IX', why: 'the soft hyphen maps to nothing (RFC 4013 §3 example)'},
    {input: 'user', prepared: 'user', why: 'the RFC 4013 §3 example "user"'},
    {input: 'USER', prepared: 'USER', why: 'case is preserved'},
    {input: '\u00AA', prepared: 'a', why: 'ordinal indicator becomes "a" (NFKC)'},
    {input: '\u2168', prepared: 'IX', why: 'roman numeral nine becomes "IX" (NFKC)'},
    {input: 'a\u00A0b', prepared: 'a b', why: 'no-break space becomes a space'},
    {input: 'a\u3000b', prepared: 'a b', why: 'ideographic space becomes a space'},
    {input: 'a\u2060b', prepared: 'ab', why: 'word joiner maps to nothing'},
    {input: 'pa\u0308sswo\u0308rd', prepared: 'pässwörd', why: 'NFKC composes'},
    {input: '\u20AC', prepared: '€', why: 'the euro sign stays'},
    {input: '\u05D0\u05D1\u05D2', prepared: '\u05D0\u05D1\u05D2', why: 'right-to-left only is allowed'},
  ]
  for (const {input, prepared, why} of table) {
    it(`prepares a password: ${why}`, () => assert.equal(preparePassword(input), prepared))
  }
})

describe('SASLprep refusals', () => {
  const table = [
    {input: '', message: /^the password is empty$/},
    {input: '\u00AD', message: /empty once SASLprep \(RFC 4013 §2\.1\) removes/},
    {input: 'abc\u0007def', message: /^the password contains a control character \(U\+0007\) at position 4, which SASLprep \(RFC 4013\) forbids$/},
    {input: 'secret\u007F', message: /a control character \(U\+007F\) at position 7/},
    {input: 'pw\uE000x', message: /a private-use character \(U\+E000\) at position 3/},
    {input: 'pw\u0378x', message: /an unassigned code point \(U\+0378\) at position 3/},
    {input: 'pw\u200Ex', message: /an invisible formatting character \(U\+200E\) at position 3/},
    {input: 'pw\uFFFEx', message: /a non-character code point \(U\+FFFE\) at position 3/},
    {input: 'pw\uD800x', message: /an unpaired surrogate \(U\+D800\) at position 3/},
    {input: 'pw\u{E0041}x', message: /a tagging character \(U\+E0041\) at position 3/},
    {input: '\u05D0secret', message: /mixes a right-to-left character \(U\+05D0\) at position 1 with a left-to-right character \(U\+0073\) at position 2/},
    {input: '\u05D0\u05D11', message: /right-to-left characters but does not both start and end with one/},
  ]
  for (const {input, message} of table) {
    it(`refuses ${JSON.stringify(input)} with a reason (${message.source.slice(0, 40)}…)`, () => {
      assert.throws(
        () => preparePassword(input),
        (error: unknown) => {
          assert.ok(error instanceof PasswordError)
          assert.equal(error.code, 'password-invalid')
          assert.match(error.message, message)
          return true
        },
      )
    })
  }

  it('never puts the password in an error message', () => {
    const secrets = ['hunter2\u0007', 'correct horse\uE000', 'sekrit\u0378', '\u05D0sekrit', 'geheim\u200E']
    for (const secret of secrets) {
      assert.throws(
        () => preparePassword(secret),
        (error: unknown) => {
          assert.ok(error instanceof PasswordError)
          const visible = secret.replace(/[^a-z ]/g, '')
          assert.ok(!error.message.includes(visible), `message leaks the password: ${error.message}`)
          assert.ok(!(error.hint ?? '').includes(visible))
          return true
        },
      )
    }
  })

  it('lets a username have unassigned code points, as a query string (RFC 3454 §7)', () => {
    assert.equal(prepareUsername('user\u0378'), 'user\u0378')
    assert.throws(() => preparePassword('user\u0378'), PasswordError)
  })

  it('still refuses prohibited characters in a username', () => {
    assert.throws(() => prepareUsername('us\u0007er'), /the username contains a control character/)
  })
})
