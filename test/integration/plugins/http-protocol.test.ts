/**
 * The example plugin's HTTP protocol, on its built code against real HTTP
 * servers: what counts as yes, no and "could not ask", redirects not
 * followed, bounded answers, the token header, and no secrets in the URL.
 */
import assert from 'node:assert/strict'
import {writeFileSync} from 'node:fs'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {describe, it} from 'node:test'

import type {AuthBackendsContribution, PluginBackend} from '../../../src/plugins/api.js'
import {silentAuthLog} from '../../../src/auth/chain.js'
import {tempDir} from '../../helpers.js'
import {EXAMPLE_PLUGIN} from './helpers.js'

type Reply = (request: http.IncomingMessage, body: string, response: http.ServerResponse) => void

async function serve(t: {after(fn: () => unknown): void}, reply: Reply): Promise<{url: string; hits: string[]}> {
  const hits: string[] = []
  const server = http.createServer((request, response) => {
    let body = ''
    request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk))
    request.on('end', () => {
      hits.push(`${request.method} ${request.url} ${body}`)
      reply(request, body, response)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return {url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/auth?realm=xmpp`, hits}
}

async function backendFor(settings: Record<string, unknown>): Promise<PluginBackend> {
  const module = (await import(pathToFileURL(path.join(EXAMPLE_PLUGIN, 'dist', 'hook.js')).href)) as {default: (options: unknown) => Promise<AuthBackendsContribution>}
  const contribution = await module.default({xmppctl: {version: '0.1.0', apiVersions: [1]}})
  assert.equal(contribution.apiVersion, 1)
  const [http] = contribution.backends
  assert.equal(http.method, 'http')
  return http.create({host: 'example.org', settings: {http_auth_timeout: 2, http_auth_tls_verify: true, ...settings}, baseDir: EXAMPLE_PLUGIN, log: silentAuthLog})
}

describe('the http auth plugin\'s protocol', () => {
  it('POSTs JSON with the password in the body, never in the URL, keeping the URL\'s query', async (t) => {
    const service = await serve(t, (_request, _body, response) => response.writeHead(200).end('true'))
    const backend = await backendFor({http_auth_url: service.url})
    assert.deepEqual(await backend.checkPassword('alice', 'pw&=?/'), {result: 'accepted'})
    assert.equal(service.hits.length, 1)
    const [method, url, body] = service.hits[0].split(' ')
    assert.equal(method, 'POST')
    assert.equal(url, '/auth?realm=xmpp')
    assert.deepEqual(JSON.parse(body), {action: 'check_password', username: 'alice', host: 'example.org', password: 'pw&=?/'})
  })

  const table: Array<[string, number, string, string]> = [
    ['plain "true"', 200, 'true', 'accepted'],
    ['JSON {"result": false}', 200, '{"result": false}', 'rejected'],
    ['JSON false', 200, 'false', 'rejected'],
    ['HTTP 401', 401, '', 'rejected'],
    ['HTTP 403', 403, '', 'rejected'],
    ['HTTP 200 with neither true nor false', 200, 'maybe', 'unavailable'],
    ['HTTP 500', 500, 'true', 'unavailable'],
    ['HTTP 404 to check_password', 404, '', 'unavailable'],
  ]
  for (const [name, status, text, result] of table) {
    it(`${name} is ${result}`, async (t) => {
      const service = await serve(t, (_request, _body, response) => response.writeHead(status).end(text))
      const backend = await backendFor({http_auth_url: service.url})
      assert.equal((await backend.checkPassword('alice', 'pw')).result, result)
    })
  }

  it('does not follow a redirect, which would send the password elsewhere', async (t) => {
    const elsewhere = await serve(t, (_request, _body, response) => response.writeHead(200).end('true'))
    const service = await serve(t, (_request, _body, response) => response.writeHead(307, {location: elsewhere.url}).end())
    const backend = await backendFor({http_auth_url: service.url})
    const outcome = await backend.checkPassword('alice', 'pw')
    assert.equal(outcome.result, 'unavailable')
    assert.match((outcome as {reason: string}).reason, /^the service redirected \(HTTP 307 to http:\/\/127\.0\.0\.1:\d+\/auth\); redirects are not followed$/)
    assert.deepEqual(elsewhere.hits, [])
  })

  it('refuses an answer larger than 64 KiB', async (t) => {
    const service = await serve(t, (_request, _body, response) => response.writeHead(200).end('x'.repeat(70 * 1024)))
    const backend = await backendFor({http_auth_url: service.url})
    assert.deepEqual(await backend.checkPassword('alice', 'pw'), {result: 'unavailable', reason: 'the answer is larger than 64 KiB'})
  })

  it('asks whether a user exists: 200 true, 404 no, and throws when it cannot tell', async (t) => {
    const service = await serve(t, (_request, body, response) => {
      const {username} = JSON.parse(body) as {username: string}
      if (username === 'alice') response.writeHead(200).end('true')
      else if (username === 'broken') response.writeHead(502).end()
      else response.writeHead(404).end()
    })
    const backend = await backendFor({http_auth_url: service.url})
    assert.equal(await backend.userExists!('alice'), true)
    assert.equal(await backend.userExists!('bob'), false)
    await assert.rejects(backend.userExists!('broken'), /the service answered HTTP 502/)
    assert.equal(JSON.parse(service.hits[0].split(' ').slice(2).join(' ')).password, undefined)
  })

  it('sends the token from http_auth_token_file, and cannot serve when the file is missing', async (t) => {
    const service = await serve(t, (request, _body, response) => response.writeHead(request.headers.authorization === 'Bearer t0ken' ? 200 : 403).end('true'))
    const dir = tempDir(t, 'xmppctl-http-')
    writeFileSync(path.join(dir, 'token'), 't0ken\n')
    const backend = await backendFor({http_auth_url: service.url, http_auth_token_file: path.join(dir, 'token')})
    assert.deepEqual(await backend.checkPassword('alice', 'pw'), {result: 'accepted'})
    const missing = await backendFor({http_auth_url: service.url, http_auth_token_file: path.join(dir, 'absent')})
    const capabilities = await missing.capabilities!()
    assert.equal(capabilities.plain, false)
    assert.match(capabilities.unavailable ?? '', /^http_auth_token_file .*absent cannot be read: ENOENT$/)
  })
})
