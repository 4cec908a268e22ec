import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {JidError} from '../../../src/errors.js'
import {formatJid, normalizeDomain, normalizeLocalpart, parseBareJid} from '../../../src/jid/index.js'
import {prepareAnyDomainpart, prepareDomainpart} from '../../../src/jid/domainpart.js'
import {applyUsernameCaseMapped} from '../../../src/jid/precis.js'

describe('parseBareJid accepts and normalises', () => {
  const table = [
    {input: 'alice@example.org', local: 'alice', domain: 'example.org', why: 'a plain JID'},
    {input: 'Alice@Example.ORG', local: 'alice', domain: 'example.org', why: 'upper case in both parts'},
    {input: '\uFF21\uFF4C\uFF49\uFF43\uFF45@example.org', local: 'alice', domain: 'example.org', why: 'a fullwidth localpart'},
    {input: '\uFF76@example.org', local: '\u30AB', domain: 'example.org', why: 'halfwidth katakana widened'},
    {input: 'jose\u0301@example.org', local: 'jos\u00E9', domain: 'example.org', why: 'a decomposed accent composed (NFC)'},
    {input: 'ÉLODIE@example.org', local: 'élodie', domain: 'example.org', why: 'non-ASCII case mapping'},
    {input: 'ΟΔΟΣ@example.org', local: 'οδος', domain: 'example.org', why: 'Greek lower-cased, with a final sigma'},
    {input: 'straße@example.org', local: 'straße', domain: 'example.org', why: 'ß kept (an RFC 5892 exception)'},
    {input: 'l\u00B7l@example.org', local: 'l\u00B7l', domain: 'example.org', why: 'a middle dot between two l (RFC 5892 A.3)'},
    {input: 'a.b-c_d+e!#$%*=?^`{|}~@example.org', local: 'a.b-c_d+e!#$%*=?^`{|}~', domain: 'example.org', why: 'ASCII punctuation RFC 7622 allows'},
    {input: '用户@例子.测试', local: '用户', domain: '例子.测试', why: 'Han characters'},
    {input: '\u05D0\u05D1@example.org', local: '\u05D0\u05D1', domain: 'example.org', why: 'right-to-left only'},
    {input: 'alice@example.org.', local: 'alice', domain: 'example.org', why: 'a trailing dot removed (RFC 7622 §3.2)'},
    {input: 'alice@example\u3002org', local: 'alice', domain: 'example.org', why: 'an ideographic full stop as a separator'},
    {input: 'alice@\uFF45\uFF58.org', local: 'alice', domain: 'ex.org', why: 'a fullwidth domain'},
    {input: 'alice@Bücher.Example', local: 'alice', domain: 'bücher.example', why: 'an IDN lower-cased'},
    {input: 'alice@xn--bcher-kva.example', local: 'alice', domain: 'bücher.example', why: 'an A-label turned into its U-label'},
    {input: 'alice@192.0.2.1', local: 'alice', domain: '192.0.2.1', why: 'an IPv4 literal'},
    {input: 'alice@[2001:DB8:0:0::1]', local: 'alice', domain: '[2001:db8::1]', why: 'an IPv6 literal in canonical form'},
    {input: 'alice@[::1]', local: 'alice', domain: '[::1]', why: 'the IPv6 loopback'},
    {input: 'alice@localhost', local: 'alice', domain: 'localhost', why: 'a single-label domain'},
    {input: `${'a'.repeat(1023)}@example.org`, local: 'a'.repeat(1023), domain: 'example.org', why: 'a 1023-byte localpart'},
  ]
  for (const {input, local, domain, why} of table) {
    it(`accepts ${why}`, () => {
      const jid = parseBareJid(input)
      assert.deepEqual(jid, {local, domain})
      assert.deepEqual(parseBareJid(formatJid(jid)), jid, 'normalising twice changes nothing')
    })
  }

  it('accepts a domain JID only when asked to', () => {
    assert.deepEqual(parseBareJid('Example.org', {allowDomainOnly: true}), {local: '', domain: 'example.org'})
    assert.equal(formatJid({local: '', domain: 'example.org'}), 'example.org')
    assert.throws(() => parseBareJid('example.org'), /it has no localpart; write user@domain/)
  })
})

describe('parseBareJid refuses, naming the part and the reason', () => {
  const long = (bytes: number): string => 'a'.repeat(bytes)
  // 16 labels of 63 octets and their dots: 1023 bytes, the largest domainpart allowed.
  const domainOf = (bytes: number): string => Array.from({length: 16}, () => 'b'.repeat(63)).join('.').slice(0, bytes - 1) + 'c'
  const table: {input: string; message: RegExp}[] = [
    {input: 'al ice@example.org', message: /^invalid JID "al ice@example\.org": the localpart contains a space \(U\+0020\), which RFC 7622 forbids$/},
    {input: 'al\u00A0ice@example.org', message: /the localpart contains a space \(U\+00A0\)/},
    {input: 'al\u0007ice@example.org', message: /^invalid JID "al\\u\{7\}ice@example\.org": the localpart contains a control character \(U\+0007\)/},
    {input: 'a\u202Eb@example.org', message: /^invalid JID "a\\u\{202E\}b@example\.org": the localpart contains an invisible or non-character code point \(U\+202E\)/},
    {input: 'alice\u2603@example.org', message: /the localpart contains the symbol "☃" \(U\+2603\)/},
    {input: 'alice\u00BF@example.org', message: /the localpart contains the punctuation "¿" \(U\+00BF\)/},
    {input: '\uFB01@example.org', message: /the localpart contains the compatibility character "ﬁ" \(U\+FB01\)/},
    {input: 'a\u0378@example.org', message: /the localpart contains an unassigned code point \(U\+0378\)/},
    {input: 'a\u00B7b@example.org', message: /the middle dot "·" \(U\+00B7\) outside "l·l"/},
    {input: 'a\u200Db@example.org', message: /a zero-width joiner \(U\+200D\)/},
    {input: '\u05D0a@example.org', message: /the localpart mixes right-to-left letters with the left-to-right letter "a"/},
    {input: 'a\u05D0@example.org', message: /the localpart contains right-to-left letters but does not start with one/},
    {input: 'a"b@example.org', message: /the localpart contains """ \(U\+0022\), which RFC 7622 §3\.3\.1 forbids/},
    {input: 'a&b@example.org', message: /the localpart contains "&" \(U\+0026\), which RFC 7622 §3\.3\.1 forbids/},
    {input: "a'b@example.org", message: /the localpart contains "'" \(U\+0027\), which RFC 7622 §3\.3\.1 forbids/},
    {input: 'a:b@example.org', message: /the localpart contains ":" \(U\+003A\), which RFC 7622 §3\.3\.1 forbids/},
    {input: 'a<b@example.org', message: /the localpart contains "<" \(U\+003C\), which RFC 7622 §3\.3\.1 forbids/},
    {input: 'a>b@example.org', message: /the localpart contains ">" \(U\+003E\), which RFC 7622 §3\.3\.1 forbids/},
    {input: 'a\uFF20b@example.org', message: /the localpart contains "@" \(U\+0040\), which RFC 7622 §3\.3\.1 forbids/},
    {input: 'a\uFF0Fb@example.org', message: /the localpart contains "\/" \(U\+002F\), which RFC 7622 §3\.3\.1 forbids/},
    {input: 'alice@example.org/phone', message: /^invalid JID "alice@example\.org\/phone": it has a resource part \(from "\/"\), which a bare JID cannot have; remove it$/},
    {input: 'alice@example.org/', message: /it has a resource part/},
    {input: '@example.org', message: /^invalid JID "@example\.org": the localpart is empty$/},
    {input: 'alice@', message: /^invalid JID "alice@": the domainpart is empty$/},
    {input: 'alice@.', message: /the domainpart is empty/},
    {input: '', message: /it has no localpart/},
    {input: `${long(1024)}@example.org`, message: /the localpart is 1024 bytes long; RFC 7622 §3\.3 allows at most 1023/},
    {input: `${'é'.repeat(512)}@example.org`, message: /the localpart is 1024 bytes long/},
    {input: `alice@${domainOf(1024)}`, message: /the domainpart is 1024 bytes long; RFC 7622 §3\.2 allows at most 1023/},
    {input: 'alice@exa mple.org', message: /the domainpart contains a space \(U\+0020\)/},
    {input: 'alice@exa\u0000mple.org', message: /the domainpart contains a control character \(U\+0000\)/},
    {input: 'alice@bob@example.org', message: /the domainpart contains the character "@" \(U\+0040\)/},
    {input: 'alice@exa_mple.org', message: /the domainpart contains the character "_" \(U\+005F\), which is not a letter, digit or hyphen/},
    {input: 'alice@-example.org', message: /the domainpart has the label "-example", which starts or ends with a hyphen/},
    {input: 'alice@example..org', message: /the domainpart has an empty label/},
    {input: 'alice@example.org..', message: /the domainpart has an empty label/},
    {input: `alice@${'x'.repeat(64)}.org`, message: /the domainpart has a label of 64 octets/},
    {input: 'alice@1.2.3', message: /the domainpart looks like an IPv4 address but is not one/},
    {input: 'alice@256.0.0.1', message: /the domainpart looks like an IPv4 address/},
    {input: 'alice@01.2.3.4', message: /the domainpart looks like an IPv4 address/},
    {input: 'alice@example.123', message: /the domainpart ends in the all-digit label "123" but is not an IPv4 address/},
    {input: 'alice@[::1', message: /the domainpart starts with "\[" but is not a bracketed IPv6 address/},
    {input: 'alice@[1:2:3]', message: /not a bracketed IPv6 address/},
    {input: 'alice@[fe80::1%eth0]', message: /not a bracketed IPv6 address/},
  ]
  for (const {input, message} of table) {
    it(`refuses ${JSON.stringify(input.length > 40 ? `${input.slice(0, 37)}…` : input)}`, () => {
      assert.throws(
        () => parseBareJid(input),
        (error: unknown) => {
          assert.ok(error instanceof JidError, String(error))
          assert.equal(error.code, 'jid-invalid')
          assert.match(error.message, message)
          return true
        },
      )
    })
  }

  it('shortens a very long JID in the message', () => {
    assert.throws(() => parseBareJid(`${long(2000)}@example.org`), (error: unknown) => error instanceof JidError && error.message.startsWith(`invalid JID "${long(80)}…": `))
  })
})

describe('normalizeLocalpart and normalizeDomain', () => {
  it('normalise one part and quote it when refusing', () => {
    assert.equal(normalizeLocalpart('ＡＬＩＣＥ'), 'alice')
    assert.equal(normalizeDomain('Example.ORG.'), 'example.org')
    assert.throws(() => normalizeLocalpart('a b'), {message: /^invalid localpart "a b": the localpart contains a space \(U\+0020\)/})
    assert.throws(() => normalizeDomain('a b'), {message: /^invalid domain "a b": the domainpart contains a space/})
  })

  it('treat every printable ASCII character as the full PRECIS profile does (the ASCII shortcut changes nothing)', () => {
    for (let code = 0x20; code <= 0x7f; code++) {
      const character = String.fromCharCode(code)
      const input = `A${character}z`
      let expected: string | Error
      try {
        expected = applyUsernameCaseMapped(input)
        if (/["&'/:<>@]/.test(expected)) expected = new Error('forbidden')
      } catch (error) {
        expected = error as Error
      }

      if (expected instanceof Error) assert.throws(() => normalizeLocalpart(input), JidError, `U+${code.toString(16)}`)
      else assert.equal(normalizeLocalpart(input), expected, `U+${code.toString(16)}`)
    }

    assert.equal(normalizeLocalpart('x'.repeat(1023)), 'x'.repeat(1023))
    assert.throws(() => normalizeLocalpart('x'.repeat(1024)), {message: /1024 bytes long/})
  })
})

describe('the domainpart shortcut for plain LDH names', () => {
  const outcome = (prepare: (input: string) => string, input: string): string => {
    try {
      return prepare(input)
    } catch (error) {
      return `refused: ${(error as Error).message}`
    }
  }

  it('gives what the full preparation gives, for every name it takes and for near misses', () => {
    const chosen = ['example.org', 'Example.ORG', 'a', 'a1', '1a', 'x.y.z9', '1.2.3.4', '1.2.3.4a', 'a--b.org', 'xn--bcher-kva.example', '-a.org', 'a-.org', 'a..b', `${'a'.repeat(63)}.org`, `${'a'.repeat(64)}.org`, '123', 'a.123']
    // A bounded, seeded sweep of short names over the characters that matter to the shortcut.
    let seed = 7
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31
    const alphabet = 'aZ09-.'
    const swept = Array.from({length: 3000}, () => Array.from({length: 1 + Math.floor(random() * 8)}, () => alphabet[Math.floor(random() * alphabet.length)]).join(''))
    for (const input of [...chosen, ...swept]) assert.equal(outcome(prepareDomainpart, input), outcome(prepareAnyDomainpart, input), input)
  })
})
