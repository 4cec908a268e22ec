/**
 * A real browser: Debian's chromium, headless, driven by playwright-core,
 * opens a page with Converse.js (npm converse.js) served by the test, logs in
 * over WebSocket (RFC 7395) from an origin websocket_origin allows, and sends
 * a chat message that a slixmpp client receives; then it joins a room
 * (XEP-0045), where a second slixmpp client hears its message and answers,
 * and the page shows the answer. A screenshot is kept on failure.
 */
import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import http from 'node:http'
import type net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {describe, it} from 'node:test'

import {chromium} from 'playwright-core'

import {projectRoot} from '../../src/paths.js'
import {startWeb} from '../integration/server/web-helpers.js'
import {slixmppAvailable, startSlixmpp} from './clients.js'

const CHROMIUM = '/usr/bin/chromium'
const CONVERSE = path.join(projectRoot(), 'node_modules', 'converse.js', 'dist')

/** The page: Converse.js with a plugin that hands its API to the test. */
function page(websocketUrl: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><link rel="stylesheet" href="/converse/converse.min.css"><script type="module" src="/converse/converse.min.js"></script></head><body>
<script type="module">
converse.plugins.add('xmppctl-test', {initialize() { window.xmppctlApi = this._converse.api }})
converse.initialize({
  websocket_url: ${JSON.stringify(websocketUrl)}, discover_connection_methods: false,
  jid: 'alice@localhost', password: 'alice pw', auto_login: true, auto_reconnect: false,
  whitelisted_plugins: ['xmppctl-test'], view_mode: 'fullscreen', assets_path: '/converse/', loglevel: 'info', persistent_store: 'IndexedDB',
})
</script></body></html>`
}

/** Serves the page and Converse.js's files on 127.0.0.1, port 0. */
async function servePage(t: {after(fn: () => unknown): void}, html: () => string): Promise<number> {
  const server = http.createServer((request, response) => {
    const url = (request.url ?? '/').split('?')[0]
    if (url === '/') {
      response.writeHead(200, {'Content-Type': 'text/html; charset=utf-8'})
      return response.end(html())
    }

    const file = path.join(CONVERSE, path.normalize(url.replace(/^\/converse\//, '')))
    if (!url.startsWith('/converse/') || !file.startsWith(CONVERSE) || !existsSync(file)) {
      response.writeHead(404)
      return response.end()
    }

    const type = file.endsWith('.js') ? 'text/javascript' : file.endsWith('.css') ? 'text/css' : file.endsWith('.wasm') ? 'application/wasm' : file.endsWith('.json') ? 'application/json' : 'application/octet-stream'
    response.writeHead(200, {'Content-Type': type})
    response.end(readFileSync(file))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise((resolve) => server.close(resolve)))
  return (server.address() as net.AddressInfo).port
}

describe('Converse.js in headless chromium', () => {
  it('logs in over WebSocket, exchanges a message with a slixmpp client, and chats in a room', async (t) => {
    assert.ok(existsSync(CHROMIUM), 'chromium is not installed: apt-get install chromium (see .ci/run)')
    assert.ok(slixmppAvailable, 'python3-slixmpp is not installed (see .ci/run)')
    let websocketUrl = ''
    const pagePort = await servePage(t, () => page(websocketUrl))
    const origin = `http://localhost:${pagePort}`
    const web = await startWeb(t, {websocket_origin: [origin], disable_sasl_scram_downgrade_protection: true}, 'alice', 'bob', 'carol')
    websocketUrl = `wss://localhost:${web.httpPort}/ws`
    const bob = startSlixmpp(t, {jid: 'bob@localhost/slix', password: 'bob pw', mechanism: 'SCRAM-SHA-1', port: web.starttlsPort, wait_message: true, timeout: 60}, 'client.py')
    await bob.next('session')

    const profile = mkdtempSync(path.join(os.tmpdir(), 'xmppctl-chromium-'))
    // A fresh profile (--user-data-dir, which playwright sets from it); the test server's self-signed certificate is trusted by this context alone.
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      ignoreHTTPSErrors: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
    // The profile goes once chromium has closed: it writes its cache until then.
    t.after(async () => {
      await context.close()
      rmSync(profile, {recursive: true, force: true})
    })
    const tab = await context.newPage()
    const console: string[] = []
    tab.on('console', (message) => console.push(message.text()))
    tab.on('pageerror', (error) => console.push(`page error: ${error.message}`))
    tab.on('response', (response) => {
      if (response.status() >= 400) console.push(`${response.status()} ${response.url()}`)
    })
    try {
      await tab.goto(`${origin}/`)
      await tab.waitForFunction(() => (window as unknown as {xmppctlApi?: {connection: {connected(): boolean}}}).xmppctlApi?.connection.connected() === true, undefined, {timeout: 30_000})
      const jid = await tab.evaluate(() => (window as unknown as {xmppctlApi: {connection: {get(): {jid: string}}}}).xmppctlApi.connection.get().jid)
      assert.match(jid, /^alice@localhost\/.+/)
      await tab.evaluate(async () => {
        const api = (window as unknown as {xmppctlApi: {chats: {open(jid: string): Promise<{sendMessage(attrs: {body: string}): Promise<unknown>}>}}}).xmppctlApi
        const chat = await api.chats.open('bob@localhost')
        await chat.sendMessage({body: 'hello from chromium'})
      })
      const received = await bob.next('message', 20_000)
      assert.equal(received.body, 'hello from chromium')
      assert.match(String(received.frm), /^alice@localhost\/.+/)

      // A room: Converse creates and joins it, Carol (slixmpp's xep_0045) joins too and hears Alice, and Alice's page shows Carol's answer.
      const room = 'tea@conference.localhost'
      const status = await tab.evaluate(async (jid) => {
        const api = (window as unknown as {xmppctlApi: {rooms: {open(jid: string, attrs: {nick: string}): Promise<{isEntered(): boolean; session: {get(key: string): unknown}}>}}}).xmppctlApi
        const muc = await api.rooms.open(jid, {nick: 'Alice'})
        for (let tries = 0; tries < 300 && !muc.isEntered(); tries++) await new Promise((resolve) => setTimeout(resolve, 100))
        return muc.isEntered() ? 'entered' : String(muc.session.get('connection_status'))
      }, room)
      assert.equal(status, 'entered')
      const carol = startSlixmpp(t, {jid: 'carol@localhost/slix', password: 'carol pw', mechanism: 'SCRAM-SHA-1', port: web.starttlsPort, room, nick: 'Carol', expect: 'Alice', reply: 'hello chromium', timeout: 30}, 'muc_member.py')
      await carol.next('joined', 20_000)
      await tab.evaluate(async (jid) => {
        const api = (window as unknown as {xmppctlApi: {rooms: {get(jid: string): Promise<{sendMessage(attrs: {body: string}): Promise<unknown>}>}}}).xmppctlApi
        await (await api.rooms.get(jid)).sendMessage({body: 'hello room'})
      }, room)
      assert.deepEqual(await carol.next('groupchat', 20_000), {event: 'groupchat', nick: 'Alice', body: 'hello room'})
      const shown = await tab.evaluate(async (jid) => {
        const api = (window as unknown as {xmppctlApi: {rooms: {get(jid: string): Promise<{messages: {findWhere(attrs: {body: string}): {get(key: string): unknown} | undefined}}>}}}).xmppctlApi
        const muc = await api.rooms.get(jid)
        for (let tries = 0; tries < 200; tries++) {
          const message = muc.messages.findWhere({body: 'hello chromium'})
          if (message) return String(message.get('nick'))
          await new Promise((resolve) => setTimeout(resolve, 100))
        }

        return 'not shown'
      }, room)
      assert.equal(shown, 'Carol')
    } catch (error) {
      const shot = path.join(os.tmpdir(), `xmppctl-browser-failure-${Date.now()}.png`)
      const state = await tab.evaluate(() => {
        const w = window as unknown as {xmppctlApi?: Record<string, unknown>; converse?: unknown}
        return `converse: ${typeof w.converse}, api: ${w.xmppctlApi ? Object.keys(w.xmppctlApi).join(',') : 'none'}, body: ${document.body.innerHTML.slice(0, 300)}`
      }).catch((failure: unknown) => String(failure))
      console.push(state)
      await tab.screenshot({path: shot, fullPage: true}).catch(() => {})
      throw new Error(`${error instanceof Error ? error.message : String(error)}; screenshot: ${shot}; browser console: ${console.slice(-20).join(' | ')}`, {cause: error})
    }
  })
})
