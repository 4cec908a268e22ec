/** Entity capabilities (XEP-0115): the verification string and hash, on the examples of §5.2 and §5.3. */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {CapsCache, capsOf, verificationString, verified} from '../../../src/server/caps.js'
import {parseElement} from '../../../src/xml/parser.js'

const DISCO = 'http://jabber.org/protocol/disco#info'
const features = (...names: string[]) => names.map((name) => `<feature var='http://jabber.org/protocol/${name}'/>`).join('')

const SIMPLE = parseElement(`<query xmlns='${DISCO}'><identity category='client' type='pc' name='Exodus 0.9.1'/>${features('disco#info', 'disco#items', 'muc', 'caps')}</query>`)!

const COMPLEX = parseElement(
  `<query xmlns='${DISCO}'><identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/><identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>` +
    features('caps', 'disco#info', 'disco#items', 'muc') +
    "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>" +
    "<field var='ip_version'><value>ipv4</value><value>ipv6</value></field><field var='os'><value>Mac</value></field><field var='os_version'><value>10.5.1</value></field>" +
    "<field var='software'><value>Psi</value></field><field var='software_version'><value>0.11</value></field></x></query>",
)!

describe('entity capabilities (XEP-0115)', () => {
  it('builds the verification string and hash of §5.2', () => {
    assert.equal(
      verificationString(SIMPLE),
      'client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<',
    )
    assert.equal(verified({node: 'http://code.google.com/p/exodus', ver: 'QgayPKawpkPSDYmwT/WM94uAlu0=', hash: 'sha-1'}, SIMPLE), true)
  })

  it('sorts identities and forms, fields and values, as §5.3 does', () => {
    assert.equal(verified({node: 'http://psi-im.org', ver: 'q07IKJEyjvHSyhy//CH0CxmKi8w=', hash: 'sha-1'}, COMPLEX), true)
  })

  it('trusts no answer with a wrong ver, an unknown hash, or duplicate features (§5.4)', () => {
    assert.equal(verified({node: 'n', ver: 'QgayPKawpkPSDYmwT/WM94uAlu0=', hash: 'sha-1'}, COMPLEX), false)
    assert.equal(verified({node: 'n', ver: 'QgayPKawpkPSDYmwT/WM94uAlu0=', hash: 'md5'}, SIMPLE), false)
    assert.equal(verified({node: 'n', ver: 'QgayPKawpkPSDYmwT/WM94uAlu0=', hash: undefined}, SIMPLE), false)
    const duplicate = parseElement(`<query xmlns='${DISCO}'>${features('muc', 'muc')}</query>`)!
    assert.equal(verificationString(duplicate), undefined)
  })

  it('reads <c/> from a presence, and keeps the least recently used entries out of a full cache', () => {
    const presence = parseElement("<presence xmlns='jabber:client'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/></presence>")!
    assert.deepEqual(capsOf(presence), {node: 'n', ver: 'v', hash: 'sha-1'})
    assert.equal(capsOf(parseElement("<presence xmlns='jabber:client'/>")!), undefined)
    const cache = new CapsCache(() => 2)
    const caps = (ver: string) => ({node: 'n', ver, hash: 'sha-1'})
    cache.set(caps('a'), new Set(['a']))
    cache.set(caps('b'), new Set(['b']))
    cache.get(caps('a'))
    cache.set(caps('c'), new Set(['c']))
    assert.deepEqual([cache.get(caps('a')), cache.get(caps('b')), cache.get(caps('c'))], [new Set(['a']), undefined, new Set(['c'])])
  })
})
