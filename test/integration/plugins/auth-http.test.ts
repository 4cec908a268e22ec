/**
 * End to end: the example HTTP auth plugin installed with `xmppctl plugins
 * install`, found through oclif's plugin list, and a real client
 * (@xmpp/client) logging in to our server through it — in this process, and
 * with the server started by `xmppctl start`. A broken plugin installed
 * beside it stops nothing.
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import {describe, it} from 'node:test'

import {client} from '@xmpp/client'

import {Configuration, parseConfig} from '../../../src/config/index.js'
import {forgetAuthPlugins, loadAuthPlugins} from '../../../src/plugins/loader.js'
import {XmppServer} from '../../../src/server/server.js'
import {freePort, tempDir, writeConfig} from '../../helpers.js'
import {EXAMPLE_PLUGIN, brokenPlugin, cliIn, pluginEnv, startAuthService} from './helpers.js'

// Our server's certificate is self-signed; this process only talks to it and to the test's auth service.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'

const PASSWORD = 'correct horse battery staple'

async function login(port: number, username: string, password: string, domain = 'localhost'): Promise<{jid: string; mechanism: string}> {
  let mechanism = ''
  const xmpp = client({
    service: `xmpp://127.0.0.1:${port}`,
    domain,
    credentials: async (authenticate: (creds: object, mechanism: string) => Promise<void>, mechanisms: string[]) => {
      mechanism = mechanisms.join(' ')
      await authenticate({username, password}, 'PLAIN')
    },
  } as unknown as Parameters<typeof client>[0])
  xmpp.reconnect.stop()
  xmpp.on('error', () => {})
  try {
    const address = await xmpp.start()
    return {jid: address.toString(), mechanism}
  } finally {
    await xmpp.stop().catch(() => {})
  }
}


/** The plugin (and a broken one) installed in a private data directory; this process's oclif pointed at it. */
async function installed(t: {after(fn: () => unknown): void}) {
  const dir = tempDir(t, 'xmppctl-plugin-e2e-')
  const cli = cliIn(dir)
  for (const plugin of [EXAMPLE_PLUGIN, brokenPlugin(dir)]) {
    const result = await cli(['plugins', 'install', plugin])
    assert.equal(result.status, 0, result.stdout + result.stderr)
  }

  const saved = {...process.env}
  const env = pluginEnv(dir)
  Object.assign(process.env, env)
  t.after(() => {
    for (const key of Object.keys(env)) {
      if (saved[key] === undefined) delete process.env[key]
      else process.env[key] = saved[key]
    }

    forgetAuthPlugins()
  })
  return {dir, cli}
}

describe('a real client logs in through the http auth plugin', () => {
  it('in a server of this process: right password in, wrong one out, service down is a temporary failure', async (t) => {
    const {dir} = await installed(t)
    // The way the server finds plugins outside a command: oclif's Config loaded from the project root.
    const registry = await loadAuthPlugins({force: true})
    assert.deepEqual([...registry.backends.keys()], ['http'])
    assert.deepEqual(registry.failures.map((failure) => failure.plugin), ['xmppctl-auth-broken'])

    const service = await startAuthService(t, {users: {alice: PASSWORD}})
    const file = writeConfig(dir, `hosts: [localhost]\ndata_dir: ./data\nauth_method: [http]\nhttp_auth_url: ${service.url}\nauth_scram_iterations: 4096\n`)
    const parsed = parseConfig(`hosts: [localhost]\ndata_dir: ./data\nauth_method: [http]\nhttp_auth_url: ${service.url}\nauth_scram_iterations: 4096\n`, file, registry)
    const config = new Configuration(file, {...parsed.settings, listen: [{port: 0, ip: '127.0.0.1', module: 'c2s', starttls: 'required', tls: false}]}, {...parsed.hostOverrides}, registry)
    const server = new XmppServer(config)
    const [listener] = await server.start()
    t.after(() => server.stop())

    const alice = await login(listener.port, 'alice', PASSWORD)
    assert.match(alice.jid, /^alice@localhost\/.+/)
    assert.equal(alice.mechanism, 'PLAIN', 'an auth plugin checks plaintext passwords: only PLAIN is offered')
    const asked = service.requests.filter((request) => request.json.action === 'check_password')
    assert.deepEqual(asked.at(-1)?.json, {action: 'check_password', username: 'alice', host: 'localhost', password: PASSWORD})
    assert.ok(asked.every((request) => !request.url.includes('alice') && !request.url.includes('horse')))

    await assert.rejects(login(listener.port, 'alice', 'wrong password'), (error: {condition?: string}) => error.condition === 'not-authorized')
    await assert.rejects(login(listener.port, 'mallory', PASSWORD), (error: {condition?: string}) => error.condition === 'not-authorized')

    // The service goes away: the client is told to try later, not that its password is wrong.
    const downFile = path.join(dir, 'down.yml')
    const down = parseConfig(`hosts: [localhost]\ndata_dir: ./data\nauth_method: [http]\nhttp_auth_url: http://127.0.0.1:9/auth\nauth_use_cache: false\n`, downFile, registry)
    await server.reload(new Configuration(file, {...down.settings, listen: config.settings.listen}, {}, registry))
    await assert.rejects(login(listener.port, 'alice', PASSWORD), (error: {condition?: string}) => error.condition === 'temporary-auth-failure')
  })

  it('in the server started by "xmppctl start"', async (t) => {
    const {dir, cli} = await installed(t)
    const service = await startAuthService(t, {users: {alice: PASSWORD}})
    const port = await freePort()
    writeConfig(
      dir,
      `hosts: [localhost]\ndata_dir: ./data\nauth_method: [http]\nhttp_auth_url: ${service.url}\nlisten:\n  - {port: ${port}, ip: 127.0.0.1, starttls: required}\n`,
    )
    const started = await cli(['start', '--json'])
    assert.equal(started.status, 0, started.stdout + started.stderr)
    // By pid: the data directory (the control socket's home) may already be gone when this runs.
    const {pid} = JSON.parse(started.stdout) as {pid: number}
    t.after(() => {
      try {
        process.kill(pid)
      } catch {}
    })
    const alice = await login(port, 'alice', PASSWORD)
    assert.match(alice.jid, /^alice@localhost\//)
    assert.ok(service.requests.some((request) => request.json.action === 'check_password' && request.json.username === 'alice'))
    const stopped = await cli(['stop'])
    assert.equal(stopped.status, 0, stopped.stderr)
  })
})
