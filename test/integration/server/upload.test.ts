/**
 * HTTP file upload (XEP-0363): disco#info of upload.localhost with its size
 * form, slots and their refusals, PUT checked against the slot, GET with safe
 * headers and ranges, 0600 files, and the purge of expired files.
 */
import assert from 'node:assert/strict'
import {statSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {DEFAULT_MODULES} from '../../../src/config/modules.js'
import {UploadStore} from '../../../src/server/upload-store.js'
import {iqReply, loginRaw} from './helpers.js'
import {fetchUrl, startWeb} from './web-helpers.js'

const UPLOAD = 'urn:xmpp:http:upload:0'

const modules = (options: Record<string, unknown> = {}) => ({modules: {...DEFAULT_MODULES, mod_mam: {default: 'never', max_page_size: 100}, mod_http_upload: {host: 'upload.@HOST@', max_size: 1000, user_quota: 1500, max_days: 30, ...options}}})

describe('HTTP file upload (XEP-0363)', () => {
  it('announces upload.localhost with its max-file-size, hands out a slot, and serves the PUT file back with safe headers and ranges', async (t) => {
    const web = await startWeb(t, modules(), 'alice')
    const alice = await loginRaw(t, web.starttlsPort, 'alice', 'alice pw', {resource: 'r'})
    alice.write("<iq type='get' id='items' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
    assert.match(await iqReply(alice, 'items'), /<item jid='upload.localhost'\/>/)
    alice.write("<iq type='get' id='info' to='upload.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
    assert.equal(
      await iqReply(alice, 'info'),
      "<iq type='result' id='info' from='upload.localhost' to='alice@localhost/r'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='store' type='file' name='HTTP File Upload'/><feature var='urn:xmpp:http:upload:0'/><feature var='http://jabber.org/protocol/disco#info'/><x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:http:upload:0</value></field><field var='max-file-size'><value>1000</value></field></x></query></iq>",
    )

    alice.write(`<iq type='get' id='slot' to='upload.localhost'><request xmlns='${UPLOAD}' filename='notes é.txt' size='26' content-type='text/plain'/></iq>`)
    const slot = await iqReply(alice, 'slot')
    const match = new RegExp(`^<iq type='result' id='slot' from='upload.localhost' to='alice@localhost/r'><slot xmlns='${UPLOAD}'><put url='(https://localhost:${web.httpPort}/upload/[A-Za-z0-9_-]{22}/[A-Za-z0-9_-]{24}/[A-Za-z0-9_-]{32}/notes%20%C3%A9.txt)'/><get url='([^']+)'/></slot></iq>$`).exec(slot)
    assert.ok(match, slot)
    const [, putUrl, getUrl] = match
    assert.equal(getUrl, putUrl)

    assert.equal((await fetchUrl(getUrl)).status, 404)
    // §5: the content type and size of the slot, or no upload.
    assert.equal((await fetchUrl(putUrl, {method: 'PUT', body: Buffer.from('abcdefghijklmnopqrstuvwxyz'), headers: {'Content-Type': 'text/html'}})).status, 400)
    assert.equal((await fetchUrl(putUrl, {method: 'PUT', body: Buffer.from('abcdefghijklmnopqrstuvwxyz')})).status, 400, 'a slot asked for as text/plain takes no PUT without a Content-Type')
    assert.equal((await fetchUrl(putUrl, {method: 'PUT', body: Buffer.from('abcdefghijklmnopqrstuvwxyz!'), headers: {'Content-Type': 'text/plain'}})).status, 413)
    const tampered = putUrl.replace(/\/([A-Za-z0-9_-]{32})\//, (_all, mac: string) => `/${mac.startsWith('A') ? 'B' : 'A'}${mac.slice(1)}/`)
    assert.equal((await fetchUrl(tampered, {method: 'PUT', body: Buffer.from('abcdefghijklmnopqrstuvwxyz'), headers: {'Content-Type': 'text/plain'}})).status, 403)
    assert.equal((await fetchUrl(putUrl, {method: 'PUT', body: Buffer.from('abcdefghijklmnopqrstuvwxyz'), headers: {'Content-Type': 'text/plain'}})).status, 201)
    assert.equal((await fetchUrl(putUrl, {method: 'PUT', body: Buffer.from('abcdefghijklmnopqrstuvwxyz'), headers: {'Content-Type': 'text/plain'}})).status, 409)

    const got = await fetchUrl(getUrl)
    assert.equal(got.status, 200)
    assert.equal(got.body.toString(), 'abcdefghijklmnopqrstuvwxyz')
    assert.equal(got.headers['content-type'], 'text/plain; charset=utf-8')
    assert.equal(got.headers['content-disposition'], `attachment; filename="notes _.txt"; filename*=UTF-8''notes%20%C3%A9.txt`)
    assert.equal(got.headers['x-content-type-options'], 'nosniff')
    assert.equal(got.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'")
    assert.equal(got.headers['accept-ranges'], 'bytes')
    const part = await fetchUrl(getUrl, {headers: {Range: 'bytes=2-5'}})
    assert.equal(part.status, 206)
    assert.equal(part.headers['content-range'], 'bytes 2-5/26')
    assert.equal(part.body.toString(), 'cdef')
    const beyond = await fetchUrl(getUrl, {headers: {Range: 'bytes=100-200'}})
    assert.equal(beyond.status, 416)
    assert.equal(beyond.headers['content-range'], 'bytes */26')

    const file = path.join(web.dataDir, 'upload', new URL(getUrl).pathname.split('/')[2], new URL(getUrl).pathname.split('/')[3], 'file')
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.equal(statSync(path.join(web.dataDir, 'upload.secret')).mode & 0o777, 0o600)
  })

  it('never serves an upload as text/html or SVG: they come as application/octet-stream attachments', async (t) => {
    const web = await startWeb(t, modules(), 'alice')
    const alice = await loginRaw(t, web.starttlsPort, 'alice', 'alice pw', {resource: 'r'})
    for (const [type, name] of [['text/html', 'page.html'], ['image/svg+xml', 'x.svg']]) {
      alice.write(`<iq type='get' id='s-${name}' to='upload.localhost'><request xmlns='${UPLOAD}' filename='${name}' size='20' content-type='${type}'/></iq>`)
      const url = /<put url='([^']+)'/.exec(await iqReply(alice, `s-${name}`))![1]
      assert.equal((await fetchUrl(url, {method: 'PUT', body: Buffer.from('<script>1</script>xx'), headers: {'Content-Type': type}})).status, 201)
      const got = await fetchUrl(url)
      assert.equal(got.headers['content-type'], 'application/octet-stream')
      assert.match(String(got.headers['content-disposition']), /^attachment; /)
    }
  })

  it('refuses a file over max_size with <file-too-large/>, and a slot past the quota with resource-constraint', async (t) => {
    const web = await startWeb(t, modules(), 'alice')
    const alice = await loginRaw(t, web.starttlsPort, 'alice', 'alice pw', {resource: 'r'})
    alice.write(`<iq type='get' id='big' to='upload.localhost'><request xmlns='${UPLOAD}' filename='big.bin' size='1001'/></iq>`)
    assert.equal(
      await iqReply(alice, 'big'),
      `<iq type='error' id='big' from='upload.localhost' to='alice@localhost/r'><error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>the file is larger than 1000 bytes</text><file-too-large xmlns='${UPLOAD}'><max-file-size>1000</max-file-size></file-too-large></error></iq>`,
    )
    alice.write(`<iq type='get' id='q1' to='upload.localhost'><request xmlns='${UPLOAD}' filename='a.bin' size='1000'/></iq>`)
    assert.match(await iqReply(alice, 'q1'), /type='result'/)
    alice.write(`<iq type='get' id='q2' to='upload.localhost'><request xmlns='${UPLOAD}' filename='b.bin' size='600'/></iq>`)
    assert.equal(
      await iqReply(alice, 'q2'),
      "<iq type='error' id='q2' from='upload.localhost' to='alice@localhost/r'><error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>this account's uploads would exceed its quota of 1500 bytes</text></error></iq>",
    )
    alice.write(`<iq type='get' id='bad' to='upload.localhost'><request xmlns='${UPLOAD}' filename='../x' size='10'/></iq>`)
    assert.match(await iqReply(alice, 'bad'), /<bad-request /)
  })

  it('purges files older than max_days and slots never used', async (t) => {
    const web = await startWeb(t, modules(), 'alice')
    const store = new UploadStore(web.dataDir)
    const old = await store.create('alice@localhost', 'old.txt', 3, 'text/plain', Date.now() - 40 * 86_400_000)
    const found = (await store.find(old.path))!
    const {writeFileSync} = await import('node:fs')
    writeFileSync(found.file, 'old', {mode: 0o600})
    await store.complete(found.dir, found.meta)
    const fresh = await store.create('alice@localhost', 'fresh.txt', 3, 'text/plain')
    await store.create('alice@localhost', 'unused.txt', 3, 'text/plain', Date.now() - 10 * 60_000)
    assert.deepEqual(await store.purge(30), {files: 1, slots: 1, bytes: 3})
    assert.equal(await store.find(old.path), undefined)
    assert.ok(await store.find(fresh.path))
  })
})
