/**
 * go-sendxmpp (Debian package go-sendxmpp) uploads a file with -h (XEP-0363):
 * it finds upload.localhost by disco, asks for a slot, PUTs the file over
 * HTTPS verified against the test server's certificate, and sends the URL to
 * a c2s client, which fetches it and gets the same bytes.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {DEFAULT_MODULES} from '../../src/config/modules.js'
import {loginRaw, nextMessage} from '../integration/server/helpers.js'
import {fetchUrl, startWeb} from '../integration/server/web-helpers.js'
import {tempDir} from '../helpers.js'

const GO_SENDXMPP = '/usr/bin/go-sendxmpp'

describe('go-sendxmpp against mod_http_upload', () => {
  it('uploads a file with -h and the recipient fetches the same bytes', async (t) => {
    assert.ok(existsSync(GO_SENDXMPP), 'go-sendxmpp is not installed: apt-get install go-sendxmpp (see .ci/run)')
    const web = await startWeb(t, {modules: {...DEFAULT_MODULES, mod_mam: {default: 'never', max_page_size: 100}, mod_http_upload: {host: 'upload.@HOST@', max_size: 10_000_000, user_quota: 100_000_000, max_days: 30}}}, 'alice', 'bob')
    const bob = await loginRaw(t, web.starttlsPort, 'bob', 'bob pw', {resource: 'tcp'})
    const dir = tempDir(t)
    const file = path.join(dir, 'photo.bin')
    const bytes = randomBytes(300_000)
    writeFileSync(file, bytes)
    // The password goes in its configuration file (0600), not on the command line.
    const rc = path.join(dir, 'sendxmpprc')
    writeFileSync(rc, `username: alice@localhost\npassword: alice pw\njserver: localhost:${web.starttlsPort}\n`, {mode: 0o600})
    const child = spawn(GO_SENDXMPP, ['-f', rc, '-h', file, 'bob@localhost'], {stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, SSL_CERT_FILE: path.join(web.dataDir, 'certs', 'localhost.crt'), HOME: dir}})
    t.after(() => {
      if (child.exitCode === null) child.kill()
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve))
    assert.equal(status, 0, output)
    const message = await nextMessage(bob)
    const url = /<body>(https:\/\/[^<]+)<\/body>/.exec(message)?.[1]
    assert.ok(url, message)
    assert.match(url, new RegExp(`^https://localhost:${web.httpPort}/upload/[A-Za-z0-9_-]{22}/[A-Za-z0-9_-]{24}/[A-Za-z0-9_-]{32}/photo.bin$`))
    const got = await fetchUrl(url)
    assert.equal(got.status, 200)
    assert.ok(got.body.equals(bytes), 'the fetched file differs from the uploaded one')
  })
})
