/**
 * mod_muc (XEP-0045): each test sends stanzas from raw clients and checks
 * the exact answers. Ids the room makes up (message ids of its own, stanza
 * ids, occupant ids) are replaced by placeholders before comparing.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {DEFAULT_MODULES, optionDefaults} from '../../../src/config/modules.js'
import {XmppServer} from '../../../src/server/server.js'
import {NO_ARCHIVING, OCCUPANT_ID, type RawClient, iqReply, loginRaw, next, nextMessage, roomIdPlaceholders, startWithUsers, sync} from './helpers.js'

const ROOM = 'tea@conference.localhost'
const MUC_USER = 'http://jabber.org/protocol/muc#user'
const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'

async function ask(client: RawClient, stanza: string): Promise<string> {
  client.write(stanza)
  return roomIdPlaceholders(await iqReply(client, /id='([^']+)'/.exec(stanza)![1]))
}

const x = (items: string, ...codes: string[]) => `<x xmlns='${MUC_USER}'>${items}${codes.map((code) => `<status code='${code}'/>`).join('')}</x>`

/** Joins `room` as `nick` and returns everything up to the subject that ends the join (§7.2.15), placeholders in. */
async function join(client: RawClient, nick: string, extra = '', room = ROOM): Promise<string> {
  client.write(`<presence to='${room}/${nick}'><x xmlns='http://jabber.org/protocol/muc'>${extra}</x></presence>`)
  return roomIdPlaceholders(await client.until(/<subject(\/>|>[\s\S]*?<\/subject>)<\/message>/))
}

async function users(t: {after(fn: () => unknown): void}, options: Parameters<typeof startWithUsers>[1] = {}) {
  // Archive ids of the accounts' own archives would sit in every private message and invitation; mam.test.ts tests them.
  const test = await startWithUsers(t, {settings: NO_ARCHIVING, ...options}, 'alice', 'bob', 'carol')
  const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((name) => loginRaw(t, test.starttlsPort, name, `${name} pw`, {resource: 'r'})))
  for (const client of [alice, bob, carol]) await sync(client)
  return {test, alice, bob, carol}
}

describe('group chat rooms (mod_muc, XEP-0045)', () => {
  it('creates a room on first join: the creator is its owner, with 110 and 201, then an empty subject (§7.2, §10.1)', async (t) => {
    const {alice} = await users(t)
    assert.equal(
      await join(alice, 'Alice'),
      `<presence to='alice@localhost/r' from='${ROOM}/Alice'>${x("<item affiliation='owner' role='moderator' jid='alice@localhost/r'/>", '110', '201')}${OCCUPANT_ID}</presence>` +
        `<message type='groupchat' id='MID' to='alice@localhost/r' from='${ROOM}'><subject/></message>`,
    )
  })

  it('shows occupants to each other, real JIDs only to moderators, relays groupchat with stanza and occupant ids, and gives a late joiner the history (§7.2.3, §7.4, §7.2.14)', async (t) => {
    const {alice, bob, carol} = await users(t)
    await join(alice, 'Alice')
    assert.equal(
      await join(bob, 'Bob', "<history maxstanzas='5'/>"),
      `<presence to='bob@localhost/r' from='${ROOM}/Alice'>${x("<item affiliation='owner' role='moderator'/>")}${OCCUPANT_ID}</presence>` +
        `<presence to='bob@localhost/r' from='${ROOM}/Bob'>${x("<item affiliation='none' role='participant' jid='bob@localhost/r'/>", '110')}${OCCUPANT_ID}</presence>` +
        `<message type='groupchat' id='MID' to='bob@localhost/r' from='${ROOM}'><subject/></message>`,
    )
    // The moderator sees Bob's real JID.
    assert.equal(roomIdPlaceholders(await next(alice, 'presence', `from='${ROOM}/Bob'`)), `<presence to='alice@localhost/r' from='${ROOM}/Bob'>${x("<item affiliation='none' role='participant' jid='bob@localhost/r'/>")}${OCCUPANT_ID}</presence>`)

    bob.write(`<message type='groupchat' to='${ROOM}' id='m1'><body>Tea?</body><stanza-id xmlns='urn:xmpp:sid:0' id='forged' by='${ROOM}'/></message>`)
    const expected = (to: string) => `<message type='groupchat' id='m1' to='${to}' from='${ROOM}/Bob'><body>Tea?</body>${OCCUPANT_ID}<stanza-id xmlns='urn:xmpp:sid:0' id='SID' by='${ROOM}'/></message>`
    assert.equal(roomIdPlaceholders(await nextMessage(alice)), expected('alice@localhost/r'))
    assert.equal(roomIdPlaceholders(await nextMessage(bob)), expected('bob@localhost/r'))

    const late = await join(carol, 'Carol')
    assert.match(late, new RegExp(`<message type='groupchat' id='m1' to='carol@localhost/r' from='${ROOM}/Bob'><body>Tea\\?</body>${OCCUPANT_ID}<stanza-id xmlns='urn:xmpp:sid:0' id='SID' by='${ROOM}'/><delay xmlns='urn:xmpp:delay' from='${ROOM}' stamp='\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z'/></message><message type='groupchat' id='MID' to='carol@localhost/r' from='${ROOM}'><subject/></message>$`))
  })

  it('refuses a nickname in use with conflict, and a groupchat message from a non-occupant with not-acceptable (§7.2.8, §7.4)', async (t) => {
    const {alice, bob} = await users(t)
    await join(alice, 'Alice')
    bob.write(`<presence to='${ROOM}/Alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
    assert.equal(
      await next(bob, 'presence'),
      `<presence type='error' from='${ROOM}/Alice' to='bob@localhost/r'><x xmlns='http://jabber.org/protocol/muc'/><error type='cancel'><conflict xmlns='${STANZAS}'/><text xmlns='${STANZAS}' xml:lang='en'>that nickname is in use in this room</text></error></presence>`,
    )
    bob.write(`<message type='groupchat' to='${ROOM}' id='g1'><body>hi</body></message>`)
    assert.equal(
      await next(bob, 'message'),
      `<message type='error' id='g1' from='${ROOM}' to='bob@localhost/r'><error type='modify'><not-acceptable xmlns='${STANZAS}'/><text xmlns='${STANZAS}' xml:lang='en'>join the room before sending to it</text></error></message>`,
    )
    bob.write("<message type='groupchat' to='nowhere@conference.localhost' id='g2'><body>hi</body></message>")
    assert.equal(
      await next(bob, 'message'),
      `<message type='error' id='g2' from='nowhere@conference.localhost' to='bob@localhost/r'><error type='cancel'><item-not-found xmlns='${STANZAS}'/><text xmlns='${STANZAS}' xml:lang='en'>there is no room nowhere@conference.localhost</text></error></message>`,
    )
  })

  it('relays a private message from an occupant\'s room JID, marked with muc#user (§7.5)', async (t) => {
    const {alice, bob} = await users(t)
    await join(alice, 'Alice')
    await join(bob, 'Bob')
    bob.write(`<message type='chat' to='${ROOM}/Alice' id='p1'><body>psst</body></message>`)
    assert.equal(await nextMessage(alice), `<message type='chat' id='p1' to='alice@localhost/r' from='${ROOM}/Bob'><body>psst</body><x xmlns='${MUC_USER}'/></message>`)
    bob.write(`<message type='chat' to='${ROOM}/Nobody' id='p2'><body>psst</body></message>`)
    assert.equal(
      await next(bob, 'message', "type='error'"),
      `<message type='error' id='p2' from='${ROOM}/Nobody' to='bob@localhost/r'><error type='cancel'><item-not-found xmlns='${STANZAS}'/><text xmlns='${STANZAS}' xml:lang='en'>nobody is in the room as Nobody</text></error></message>`,
    )
  })

  it('passes the refusal of a private message and of an iq back to the occupant that sent it, from the occupant JID that refused (XEP-0191 §3.3)', async (t) => {
    const {alice, bob} = await users(t)
    await join(alice, 'Alice')
    await join(bob, 'Bob')
    assert.match(await ask(alice, `<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='${ROOM}/Bob'/></block></iq>`), /^<iq type='result'/)
    bob.write(`<message type='chat' to='${ROOM}/Alice' id='p1'><body>psst</body></message>`)
    assert.equal(
      await next(bob, 'message', "type='error'"),
      `<message type='error' id='p1' to='bob@localhost/r' from='${ROOM}/Alice'><error type='cancel'><service-unavailable xmlns='${STANZAS}'/></error></message>`,
    )
    assert.equal(
      await ask(bob, `<iq type='get' to='${ROOM}/Alice' id='v1'><query xmlns='jabber:iq:version'/></iq>`),
      `<iq type='error' id='v1' to='bob@localhost/r' from='${ROOM}/Alice'><error type='cancel'><service-unavailable xmlns='${STANZAS}'/></error></iq>`,
    )
    assert.doesNotMatch(await sync(alice), /psst|iq:version/)
  })

  it('forwards an iq between occupants under their occupant JIDs, a vCard request to the bare JID, and takes answers only from whom it asked', async (t) => {
    const {alice, bob, carol} = await users(t)
    await ask(alice, "<iq type='set' id='vc'><vCard xmlns='vcard-temp'><FN>Alice</FN></vCard></iq>")
    await join(alice, 'Alice')
    await join(bob, 'Bob')
    bob.write(`<iq type='get' id='v1' to='${ROOM}/Alice'><query xmlns='jabber:iq:version'/></iq>`)
    const forwarded = await alice.until(new RegExp(`<iq type='get' id='[^']+' to='alice@localhost/r' from='${ROOM}/Bob'><query xmlns='jabber:iq:version'/></iq>`))
    const id = /<iq type='get' id='([^']+)' to='alice@localhost\/r' from='tea@conference\.localhost\/Bob'>/.exec(forwarded)![1]
    assert.notEqual(id, 'v1', "the room's own id: the requester's cannot collide with another's")
    // Carol is not the one asked: her answer to the same id is dropped, and Alice's own goes through.
    carol.write(`<iq type='result' id='${id}' to='${ROOM}/Bob'><query xmlns='jabber:iq:version'><name>forged</name></query></iq>`)
    alice.write(`<iq type='result' id='${id}' to='${ROOM}/Bob'><query xmlns='jabber:iq:version'><name>raw</name></query></iq>`)
    assert.equal(await iqReply(bob, 'v1'), `<iq type='result' id='v1' to='bob@localhost/r' from='${ROOM}/Alice'><query xmlns='jabber:iq:version'><name>raw</name></query></iq>`)
    // Answered once: a second answer to the same id goes nowhere.
    alice.write(`<iq type='result' id='${id}' to='${ROOM}/Bob'/>`)
    bob.write(`<iq type='get' id='v2' to='${ROOM}/Alice'><vCard xmlns='vcard-temp'/></iq>`)
    assert.equal(await iqReply(bob, 'v2'), `<iq type='result' id='v2' to='bob@localhost/r' from='${ROOM}/Alice'><vCard xmlns='vcard-temp'><FN>Alice</FN></vCard></iq>`)
    assert.doesNotMatch(bob.received, /forged/)
    assert.equal(
      await ask(carol, `<iq type='get' id='v3' to='${ROOM}/Alice'><query xmlns='jabber:iq:version'/></iq>`),
      `<iq type='error' id='v3' from='${ROOM}/Alice' to='carol@localhost/r'><error type='modify'><not-acceptable xmlns='${STANZAS}'/><text xmlns='${STANZAS}' xml:lang='en'>join the room before sending to its occupants</text></error></iq>`,
    )
  })

  it('changes a nickname with 303 and leaves with 110 (§7.6, §7.14)', async (t) => {
    const {alice, bob} = await users(t)
    await join(alice, 'Alice')
    await join(bob, 'Bob')
    await next(alice, 'presence', `from='${ROOM}/Bob'`)
    bob.write(`<presence to='${ROOM}/Robert'/>`)
    assert.equal(roomIdPlaceholders(await next(alice, 'presence', "type='unavailable'")), `<presence type='unavailable' to='alice@localhost/r' from='${ROOM}/Bob'>${x("<item affiliation='none' role='participant' jid='bob@localhost/r' nick='Robert'/>", '303')}${OCCUPANT_ID}</presence>`)
    assert.equal(roomIdPlaceholders(await next(alice, 'presence')), `<presence to='alice@localhost/r' from='${ROOM}/Robert'>${x("<item affiliation='none' role='participant' jid='bob@localhost/r'/>")}${OCCUPANT_ID}</presence>`)
    bob.write(`<presence type='unavailable' to='${ROOM}/Robert'><status>bye</status></presence>`)
    assert.equal(roomIdPlaceholders(await next(bob, 'presence', "type='unavailable'[^>]*from='tea@conference.localhost/Robert'")).includes(x("<item affiliation='none' role='none' jid='bob@localhost/r'/>", '110')), true)
    assert.equal(
      roomIdPlaceholders(await next(alice, 'presence', "type='unavailable'")),
      `<presence type='unavailable' to='alice@localhost/r' from='${ROOM}/Robert'><status>bye</status>${x("<item affiliation='none' role='none' jid='bob@localhost/r'/>")}${OCCUPANT_ID}</presence>`,
    )
  })

  it('removes an occupant whose session ends, telling the others (RFC 6121 §4.6.3)', async (t) => {
    const {alice, bob} = await users(t)
    await join(alice, 'Alice')
    await join(bob, 'Bob')
    await next(alice, 'presence', `from='${ROOM}/Bob'`)
    bob.end()
    assert.equal(roomIdPlaceholders(await next(alice, 'presence', "type='unavailable'")), `<presence type='unavailable' to='alice@localhost/r' from='${ROOM}/Bob'>${x("<item affiliation='none' role='none' jid='bob@localhost/r'/>")}${OCCUPANT_ID}</presence>`)
  })

  it('kicks with 307 and bans with 301, and a banned user cannot come back (§8.2, §9.1)', async (t) => {
    const {alice, bob, carol} = await users(t)
    await join(alice, 'Alice')
    await join(bob, 'Bob')
    await join(carol, 'Carol')
    // A participant cannot kick.
    assert.match(await ask(bob, `<iq type='set' id='k0' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='Carol' role='none'/></query></iq>`), /<forbidden /)
    assert.equal(
      await ask(alice, `<iq type='set' id='k1' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='Bob' role='none'><reason>too loud</reason></item></query></iq>`),
      `<iq type='result' id='k1' from='${ROOM}' to='alice@localhost/r'/>`,
    )
    assert.equal(
      roomIdPlaceholders(await next(bob, 'presence', "type='unavailable'")),
      `<presence type='unavailable' to='bob@localhost/r' from='${ROOM}/Bob'>${x("<item affiliation='none' role='none' jid='bob@localhost/r'><actor nick='Alice'/><reason>too loud</reason></item>", '307', '110')}${OCCUPANT_ID}</presence>`,
    )
    assert.equal(
      await ask(alice, `<iq type='set' id='b1' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#admin'><item jid='carol@localhost' affiliation='outcast'><reason>spam</reason></item></query></iq>`),
      `<iq type='result' id='b1' from='${ROOM}' to='alice@localhost/r'/>`,
    )
    assert.equal(
      roomIdPlaceholders(await next(carol, 'presence', `type='unavailable' to='carol@localhost/r' from='${ROOM}/Carol'`)),
      `<presence type='unavailable' to='carol@localhost/r' from='${ROOM}/Carol'>${x("<item affiliation='outcast' role='none' jid='carol@localhost/r'><actor nick='Alice'/><reason>spam</reason></item>", '301', '110')}${OCCUPANT_ID}</presence>`,
    )
    carol.write(`<presence to='${ROOM}/Carol'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
    assert.match(await next(carol, 'presence', "type='error'"), /<error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'\/><text [^>]*>you are banned from this room<\/text><\/error>/)
    assert.equal(
      await ask(alice, `<iq type='get' id='l1' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast'/></query></iq>`),
      `<iq type='result' id='l1' from='${ROOM}' to='alice@localhost/r'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast' jid='carol@localhost'><reason>spam</reason></item></query></iq>`,
    )
    // The last owner cannot step down.
    assert.match(await ask(alice, `<iq type='set' id='o1' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#admin'><item jid='alice@localhost' affiliation='member'/></query></iq>`), /<conflict /)
  })

  it('configures a members-only, password-protected room with the owner form; invitations make members (§10.2, §7.2.5, §7.2.6, §7.8)', async (t) => {
    const {alice, bob, carol} = await users(t)
    await join(alice, 'Alice')
    const form = await ask(alice, `<iq type='get' id='c1' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>`)
    assert.match(form, /<field var='muc#roomconfig_membersonly' type='boolean' label='Members only'><value>0<\/value><\/field>/)
    assert.match(await ask(bob, `<iq type='get' id='c0' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>`), /<forbidden /)
    const submit = (fields: string) =>
      `<iq type='set' id='c2' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>${fields}</x></query></iq>`
    assert.equal(
      await ask(alice, submit("<field var='muc#roomconfig_membersonly'><value>1</value></field><field var='muc#roomconfig_passwordprotectedroom'><value>1</value></field><field var='muc#roomconfig_roomsecret'><value>scones</value></field>")),
      `<iq type='result' id='c2' from='${ROOM}' to='alice@localhost/r'/>`,
    )
    assert.equal(roomIdPlaceholders(await nextMessage(alice)), `<message type='groupchat' id='MID' to='alice@localhost/r' from='${ROOM}'>${x('', '104')}</message>`)
    bob.write(`<presence to='${ROOM}/Bob'><x xmlns='http://jabber.org/protocol/muc'><password>scones</password></x></presence>`)
    assert.match(await next(bob, 'presence', "type='error'"), /<error type='auth'><registration-required xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'\/>/)

    alice.write(`<message to='${ROOM}' id='i1'><x xmlns='${MUC_USER}'><invite to='bob@localhost'><reason>tea time</reason></invite></x></message>`)
    assert.equal(
      await nextMessage(bob),
      `<message to='bob@localhost' from='${ROOM}'><x xmlns='${MUC_USER}'><invite from='alice@localhost'><reason>tea time</reason></invite><password>scones</password></x><body>alice@localhost invites you to the room ${ROOM}: tea time</body></message>`,
    )
    bob.write(`<presence to='${ROOM}/Bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
    assert.match(await next(bob, 'presence', "type='error'"), /<error type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'\/>/)
    assert.match(await join(bob, 'Bob', '<password>scones</password>'), new RegExp(`from='${ROOM}/Bob'>${x("<item affiliation='member' role='participant' jid='bob@localhost/r'/>", '110').replaceAll('/', '\\/')}`))
    // Carol was not invited.
    carol.write(`<presence to='${ROOM}/Carol'><x xmlns='http://jabber.org/protocol/muc'><password>scones</password></x></presence>`)
    assert.match(await next(carol, 'presence', "type='error'"), /registration-required/)
  })

  it('lets participants change the subject unless the room says otherwise, and sends it to newcomers (§8.1)', async (t) => {
    const {alice, bob} = await users(t)
    await join(alice, 'Alice')
    await join(bob, 'Bob')
    bob.write(`<message type='groupchat' to='${ROOM}' id='s1'><subject>Earl Grey</subject></message>`)
    assert.equal(await nextMessage(alice), `<message type='groupchat' id='s1' to='alice@localhost/r' from='${ROOM}/Bob'><subject>Earl Grey</subject></message>`)
    bob.write(`<presence type='unavailable' to='${ROOM}/Bob'/>`)
    await next(bob, 'presence', "type='unavailable'")
    assert.match(await join(bob, 'Bob'), new RegExp(`<message type='groupchat' id='[^']+' to='bob@localhost/r' from='${ROOM}/Bob'><subject>Earl Grey</subject></message>$`))
  })

  it('answers disco#info and disco#items for the service and the room, and self-pings (XEP-0030, §6, XEP-0410)', async (t) => {
    const {alice, bob} = await users(t)
    await join(alice, 'Alice')
    assert.equal(
      await ask(bob, "<iq type='get' id='d1' to='conference.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"),
      "<iq type='result' id='d1' from='conference.localhost' to='bob@localhost/r'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='conference' type='text' name='Chatrooms'/>" +
        "<feature var='http://jabber.org/protocol/muc'/><feature var='http://jabber.org/protocol/disco#info'/><feature var='http://jabber.org/protocol/disco#items'/><feature var='urn:xmpp:ping'/></query></iq>",
    )
    assert.equal(
      await ask(bob, "<iq type='get' id='d2' to='conference.localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>"),
      `<iq type='result' id='d2' from='conference.localhost' to='bob@localhost/r'><query xmlns='http://jabber.org/protocol/disco#items'><item jid='${ROOM}' name='tea'/></query></iq>`,
    )
    const info = await ask(bob, `<iq type='get' id='d3' to='${ROOM}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
    assert.match(info, /^<iq type='result' id='d3' from='tea@conference\.localhost' to='bob@localhost\/r'><query xmlns='http:\/\/jabber\.org\/protocol\/disco#info'><identity category='conference' type='text' name='tea'\/><feature var='http:\/\/jabber\.org\/protocol\/muc'\/><feature var='muc_temporary'\/><feature var='muc_public'\/><feature var='muc_open'\/><feature var='muc_unmoderated'\/><feature var='muc_unsecured'\/><feature var='muc_semianonymous'\/>/)
    assert.match(info, /<field var='muc#roominfo_occupants' type='text-single' label='Number of occupants'><value>1<\/value><\/field>/)
    assert.equal(await ask(alice, `<iq type='get' id='sp1' to='${ROOM}/Alice'><ping xmlns='urn:xmpp:ping'/></iq>`), `<iq type='result' id='sp1' from='${ROOM}/Alice' to='alice@localhost/r'/>`)
    assert.equal(
      await ask(bob, `<iq type='get' id='sp2' to='${ROOM}/Alice'><ping xmlns='urn:xmpp:ping'/></iq>`),
      `<iq type='error' id='sp2' from='${ROOM}/Alice' to='bob@localhost/r'><error type='modify'><not-acceptable xmlns='${STANZAS}'/><text xmlns='${STANZAS}' xml:lang='en'>you are not in this room</text></error></iq>`,
    )
  })

  it('keeps a persistent room, its subject, its affiliations and its occupant ids across a restart (§10.2, the store, XEP-0421 §3)', async (t) => {
    const {test, alice} = await users(t)
    // The self-presence (110) of a join, whoever else is in the room.
    const occupantId = (joined: string) => /<status code='110'\/>(?:<status code='\d+'\/>)*<\/x><occupant-id xmlns='urn:xmpp:occupant-id:0' id='([^']+)'\/><\/presence>/.exec(joined)?.[1]
    alice.write(`<presence to='${ROOM}/Alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
    const aliceBefore = occupantId(await alice.until(/<subject(\/>|>[\s\S]*?<\/subject>)<\/message>/))
    assert.ok(aliceBefore)
    await ask(
      alice,
      `<iq type='set' id='p1' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_persistentroom'><value>1</value></field><field var='muc#roomconfig_roomname'><value>Tea party</value></field></x></query></iq>`,
    )
    await ask(alice, `<iq type='set' id='p2' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#admin'><item jid='bob@localhost' affiliation='admin'/></query></iq>`)
    alice.write(`<message type='groupchat' to='${ROOM}' id='p3'><subject>Darjeeling</subject></message>`)
    await nextMessage(alice)
    await test.server.stop()

    const again = new XmppServer(test.config)
    const [listener] = await again.start()
    t.after(() => again.stop())
    const bob = await loginRaw(t, listener.port, 'bob', 'bob pw', {resource: 'r'})
    await sync(bob)
    assert.equal(
      await ask(bob, "<iq type='get' id='d' to='conference.localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>"),
      `<iq type='result' id='d' from='conference.localhost' to='bob@localhost/r'><query xmlns='http://jabber.org/protocol/disco#items'><item jid='${ROOM}' name='Tea party'/></query></iq>`,
    )
    const joined = await join(bob, 'Bob')
    // 170: a persistent room archives by default (XEP-0045 §7.2.12).
    assert.match(joined, new RegExp(`${x("<item affiliation='admin' role='moderator' jid='bob@localhost/r'/>", '110', '170').replaceAll('/', '\\/')}`))
    assert.match(joined, new RegExp(`from='${ROOM}/Alice'><subject>Darjeeling</subject></message>$`))
    const aliceAgain = await loginRaw(t, listener.port, 'alice', 'alice pw', {resource: 'r'})
    await sync(aliceAgain)
    aliceAgain.write(`<presence to='${ROOM}/Alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
    assert.equal(occupantId(await aliceAgain.until(/<subject(\/>|>[\s\S]*?<\/subject>)<\/message>/)), aliceBefore)
  })

  it('archives a persistent room\'s messages under their stanza ids and pages them to whoever may join (XEP-0313 on a room)', async (t) => {
    const {alice, bob, carol} = await users(t)
    await join(alice, 'Alice')
    const query = (id: string, extra = '') => `<iq type='set' id='${id}' to='${ROOM}'><query xmlns='urn:xmpp:mam:2' queryid='${id}'>${extra}</query></iq>`
    // A temporary room keeps no archive.
    assert.equal(
      await ask(bob, query('q0')),
      `<iq type='error' id='q0' from='${ROOM}' to='bob@localhost/r'><error type='cancel'><feature-not-implemented xmlns='${STANZAS}'/><text xmlns='${STANZAS}' xml:lang='en'>this room keeps no archive</text></error></iq>`,
    )
    await ask(alice, `<iq type='set' id='c1' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_persistentroom'><value>1</value></field></x></query></iq>`)
    assert.match(await nextMessage(alice), /<status code='104'\/>/)
    const ids: string[] = []
    for (const body of ['one', 'two', 'three']) {
      alice.write(`<message type='groupchat' to='${ROOM}' id='${body}'><body>${body}</body></message>`)
      const echoed = await nextMessage(alice)
      ids.push(/<stanza-id xmlns='urn:xmpp:sid:0' id='(\d+)' by='tea@conference\.localhost'\/>/.exec(echoed)![1])
    }

    // Bob is not in the room but may join it: he reads the archive, two at a time.
    bob.write(query('q1', "<set xmlns='http://jabber.org/protocol/rsm'><max>2</max></set>"))
    const page = roomIdPlaceholders(await bob.until(/<iq type='result' id='q1'[\s\S]*?<\/iq>/))
    const result = (id: string, body: string) =>
      `<message from='${ROOM}' to='bob@localhost/r'><result xmlns='urn:xmpp:mam:2' queryid='q1' id='${id}'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='[^']+'/>` +
      `<message xmlns='jabber:client' type='groupchat' id='${body}' from='${ROOM}/Alice'><body>${body}</body>${OCCUPANT_ID}</message></forwarded></result></message>`
    assert.match(
      page,
      new RegExp(
        `^${result(ids[0], 'one')}${result(ids[1], 'two')}<iq type='result' id='q1' from='${ROOM}' to='bob@localhost/r'><fin xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><first index='0'>${ids[0]}</first><last>${ids[1]}</last><count>3</count></set></fin></iq>$`,
      ),
    )
    // Filtered by occupant: with='room/nick'.
    const withBob = await ask(bob, query('q2', `<x xmlns='jabber:x:data' type='submit'><field var='with'><value>${ROOM}/Bob</value></field></x>`))
    assert.match(withBob, /<count>0<\/count>/)
    // A banned user reads nothing.
    await ask(alice, `<iq type='set' id='b' to='${ROOM}'><query xmlns='http://jabber.org/protocol/muc#admin'><item jid='carol@localhost' affiliation='outcast'/></query></iq>`)
    assert.match(await ask(carol, query('q3')), /<error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'\/><text [^>]*>only those who may join the room read its archive<\/text>/)
    assert.match(await ask(bob, `<iq type='get' id='d' to='${ROOM}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`), /<feature var='urn:xmpp:mam:2'\/>/)
  })

  it('creates rooms only for whom access_create allows (§10.1.1)', async (t) => {
    const {alice} = await users(t, {settings: {modules: {...DEFAULT_MODULES, mod_muc: {...optionDefaults('mod_muc'), access_create: 'none'}}}})
    alice.write(`<presence to='${ROOM}/Alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
    assert.equal(
      await next(alice, 'presence'),
      `<presence type='error' from='${ROOM}/Alice' to='alice@localhost/r'><x xmlns='http://jabber.org/protocol/muc'/><error type='cancel'><not-allowed xmlns='${STANZAS}'/><text xmlns='${STANZAS}' xml:lang='en'>rooms cannot be created here; ask an administrator</text></error></presence>`,
    )
  })
})
