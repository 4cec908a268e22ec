/**
 * Every iq request gets a response (RFC 6120 §8.2.3): whatever a module
 * serves, a request with an empty, a foreign or a malformed payload is
 * answered with a result or an error, never left waiting.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {DEFAULT_MODULES} from '../../../src/config/modules.js'
import type {ServerCore} from '../../../src/server/core.js'
import {loginRaw, startWithUsers} from './helpers.js'

describe('iq requests (RFC 6120 §8.2.3)', () => {
  it('answers every request each module serves, whatever its payload', async (t) => {
    const test = await startWithUsers(t, {settings: {modules: {...DEFAULT_MODULES, mod_version: {}}}}, 'alice', 'bob')
    const core = (test.server as unknown as {core: ServerCore}).core
    const alice = await loginRaw(t, test.starttlsPort, 'alice', 'alice pw')
    const requests: string[] = []
    for (const handler of core.modules.flatMap((module) => module.iq ?? [])) {
      const payloads = [
        `<${handler.name} xmlns='${handler.ns}'/>`,
        `<${handler.name} xmlns='${handler.ns}'><junk xmlns='urn:example:junk'/></${handler.name}>`,
        `<${handler.name} xmlns='${handler.ns}' node='x' jid='@@'><item jid='@@' node=''/><item/></${handler.name}>`,
        `<${handler.name} xmlns='${handler.ns}'><${handler.name}/><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>x</value></field></x></${handler.name}>`,
      ]
      const targets = handler.to.map((to) => (to === 'server' ? " to='localhost'" : to === 'account' ? " to='bob@localhost'" : ''))
      for (const type of handler.types) for (const to of targets) for (const payload of payloads) requests.push(`<iq type='${type}'${to} id='q${requests.length}'>${payload}</iq>`)
    }

    // Every module's handlers, four payloads each, to each address it answers at (156 with the modules above).
    assert.ok(requests.length >= 100, `only ${requests.length} requests`)
    for (const request of requests) alice.write(request)
    alice.write("<iq type='get' id='last'><ping xmlns='urn:xmpp:ping'/></iq>")
    let received = await alice.until(/id='last'/, 20_000)
    await new Promise((resolve) => setTimeout(resolve, 500))
    alice.write("<iq type='get' id='last2'><ping xmlns='urn:xmpp:ping'/></iq>")
    received += await alice.until(/id='last2'/)
    const unanswered = requests.filter((_request, index) => !new RegExp(`<iq [^>]*id='q${index}'`).test(received))
    assert.deepEqual(unanswered, [])
  })
})
