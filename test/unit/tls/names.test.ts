import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {type PresentedNames, decodeSubjectAltName, dnsNameMatches, emptyNames, encodeSubjectAltName, matchHost, namesForHost} from '../../../src/tls/names.js'

const names = (partial: Partial<PresentedNames>): PresentedNames => ({...emptyNames(), ...partial})

describe('RFC 6125 host matching', () => {
  const dnsCases: Array<[string, string, boolean]> = [
    ['example.org', 'example.org', true],
    ['Example.ORG', 'example.org', true],
    ['example.org.', 'example.org', true],
    ['*.example.org', 'chat.example.org', true],
    ['*.example.org', 'example.org', false],
    ['*.example.org', 'a.b.example.org', false],
    ['*.org', 'example.org', false],
    ['f*.example.org', 'foo.example.org', false],
    ['example.org', 'example.net', false],
    ['xn--bcher-kva.example', 'bücher.example', true],
    ['*.xn--bcher-kva.example', 'chat.bücher.example', true],
  ]
  for (const [presented, host, expected] of dnsCases) {
    it(`${expected ? 'matches' : 'does not match'} DNS-ID ${presented} against ${host}`, () => {
      assert.equal(dnsNameMatches(presented, host), expected)
    })
  }

  it('matches SRV-IDs for both XMPP services but no other service', () => {
    assert.deepEqual(matchHost(names({srv: ['_xmpp-client.example.org']}), 'example.org'), {type: 'SRV-ID', name: '_xmpp-client.example.org'})
    assert.deepEqual(matchHost(names({srv: ['_xmpp-server.example.org']}), 'example.org'), {type: 'SRV-ID', name: '_xmpp-server.example.org'})
    assert.equal(matchHost(names({srv: ['_imap.example.org']}), 'example.org'), undefined)
  })

  it('matches XmppAddr domains in their Unicode form, never a full JID', () => {
    assert.equal(matchHost(names({xmppAddr: ['bücher.example']}), 'xn--bcher-kva.example')?.type, 'XmppAddr')
    assert.equal(matchHost(names({xmppAddr: ['admin@example.org']}), 'example.org'), undefined)
  })

  it('falls back to the CN only when there is no subjectAltName identifier (§6.4.4)', () => {
    assert.deepEqual(matchHost(names({cn: ['example.org']}), 'example.org'), {type: 'CN-ID', name: 'example.org'})
    assert.equal(matchHost(names({cn: ['example.org'], dns: ['other.example']}), 'example.org'), undefined)
  })
})

describe('subjectAltName encoding', () => {
  it('round-trips dNSName, XmppAddr and SRVName entries, with component subdomains', () => {
    const issued = namesForHost('bücher.example', ['conference'])
    assert.deepEqual(issued, {
      dns: ['xn--bcher-kva.example', 'conference.xn--bcher-kva.example'],
      xmppAddr: ['bücher.example', 'conference.bücher.example'],
      srv: ['_xmpp-client.xn--bcher-kva.example', '_xmpp-server.xn--bcher-kva.example', '_xmpp-server.conference.xn--bcher-kva.example'],
    })
    const decoded = decodeSubjectAltName(encodeSubjectAltName(issued))
    assert.deepEqual(decoded, {...emptyNames(), ...issued})
    assert.equal(matchHost(decoded, 'conference.bücher.example')?.type, 'DNS-ID')
  })
})
