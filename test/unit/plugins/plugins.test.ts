/**
 * The plugin API inside xmppctl: what a hook may contribute, how plugin keys
 * and methods are validated with the core ones, and how a plugin backend is
 * adapted into the chain — a throwing or incomplete plugin degrades to
 * "unavailable"/"unsupported", never a crash. The plugin here is a real one
 * defined in the test, registered as the loader would.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {UnavailableError, UnsupportedError} from '../../../src/errors.js'
import {ConfigProblemsError, parseConfig} from '../../../src/config/index.js'
import type {AuthBackendDefinition, PluginBackend} from '../../../src/plugins/api.js'
import {checkContribution} from '../../../src/plugins/loader.js'
import {installTarget} from '../../../src/plugins/manage.js'
import {requireAuthMethod} from '../../../src/plugins/methods.js'
import {NO_PLUGINS, type PluginRegistry, type RegisteredBackend} from '../../../src/config/plugins.js'
import {PLAIN_TCP, TLS13, authFixture} from '../auth/setup.js'
import {tempDir} from '../../helpers.js'

/** A plugin backend with an in-memory user table, and a switch to make it throw. */
function demoDefinition(state: {throws?: boolean; users: Record<string, string>}): AuthBackendDefinition {
  return {
    method: 'demo',
    description: 'users from a table',
    keys: {
      demo_realm: {spec: {type: 'string', nonEmpty: true}, description: 'the realm', check: (value) => (String(value).includes(' ') ? 'must not contain spaces' : undefined)},
      demo_retries: {spec: {type: 'integer', min: 0, max: 5}, description: 'retries', default: 2},
    },
    requiredKeys: ['demo_realm'],
    create: (context) => {
      const backend: PluginBackend = {
        async checkPassword(username, password) {
          if (state.throws) throw new Error(`demo backend down for ${context.host}`)
          return state.users[username] === password ? {result: 'accepted'} : {result: 'rejected', reason: 'not in the table'}
        },
        async userExists(username) {
          if (state.throws) throw new Error('demo backend down')
          return Object.hasOwn(state.users, username)
        },
      }
      return backend
    },
  }
}

/** The registry the tests below parse configurations with: what a command gets from loadAuthPlugins. */
let plugins: PluginRegistry = NO_PLUGINS

function register(t: {after(fn: () => unknown): void}, ...definitions: AuthBackendDefinition[]): void {
  const backends = new Map<string, RegisteredBackend>()
  for (const definition of definitions) {
    backends.set(definition.method, {
      method: definition.method,
      description: definition.description,
      plugin: {name: `xmppctl-auth-${definition.method}`, version: '1.2.3'},
      keys: {...definition.keys},
      requiredKeys: [...(definition.requiredKeys ?? [])],
      definition,
    })
  }

  plugins = {loaded: true, backends, failures: [{plugin: 'xmppctl-auth-http', error: 'SyntaxError: Unexpected token'}]}
  t.after(() => {
    plugins = NO_PLUGINS
  })
}

const problems = (text: string) => {
  try {
    parseConfig(text, '/etc/xmppctl/xmppctl.yml', plugins)
  } catch (error) {
    if (error instanceof ConfigProblemsError) return error.problems
    throw error
  }

  return []
}

describe('what an auth-backends hook may contribute', () => {
  const valid = demoDefinition({users: {}})
  const table: Array<[string, unknown, RegExp | undefined]> = [
    ['a valid contribution', {apiVersion: 1, backends: [valid]}, undefined],
    ['nothing', undefined, /returned nothing/],
    ['an unknown API version', {apiVersion: 2, backends: [valid]}, /written for plugin API version 2; this xmppctl understands 1/],
    ['no backends', {apiVersion: 1, backends: []}, /returned no backends/],
    ['a core method', {apiVersion: 1, backends: [{...valid, method: 'internal'}]}, /provides the method internal, which is xmppctl's own/],
    ['a method that is not a name', {apiVersion: 1, backends: [{...valid, method: 'Demo Auth'}]}, /is not a lower-case name/],
    ['the same method twice', {apiVersion: 1, backends: [valid, valid]}, /provides the method demo twice/],
    ['no create()', {apiVersion: 1, backends: [{...valid, create: undefined}]}, /has no create\(\) function/],
    ['a core key', {apiVersion: 1, backends: [{...valid, keys: {auth_method: valid.keys!.demo_realm}}]}, /key auth_method is already used by xmppctl/],
    ['an unknown value type', {apiVersion: 1, backends: [{...valid, keys: {demo_x: {spec: {type: 'object'}, description: 'x'}}}]}, /type "object" is not one of/],
    ['a required key it does not declare', {apiVersion: 1, backends: [{...valid, requiredKeys: ['demo_url']}]}, /requires the key demo_url but does not declare it/],
  ]
  for (const [name, contribution, expected] of table) {
    it(`${expected ? 'refuses' : 'accepts'} ${name}`, () => {
      const problem = checkContribution(contribution, new Map(), new Map([['auth_method', 'xmppctl']]))
      if (expected) assert.match(problem ?? '', expected)
      else assert.equal(problem, undefined)
    })
  }

  it('refuses a method or key another plugin already provides', () => {
    const taken = new Map([['demo', {plugin: {name: 'xmppctl-auth-other', version: '1'}} as RegisteredBackend]])
    assert.match(checkContribution({apiVersion: 1, backends: [valid]}, taken, new Map()) ?? '', /which the plugin xmppctl-auth-other already provides/)
    assert.match(checkContribution({apiVersion: 1, backends: [valid]}, new Map(), new Map([['demo_realm', 'xmppctl-auth-other']])) ?? '', /demo_realm is already used by the plugin xmppctl-auth-other/)
  })
})

describe('configuration with auth plugins', () => {
  it('accepts a plugin method and its keys, with defaults, per host', (t) => {
    register(t, demoDefinition({users: {}}))
    const config = parseConfig('hosts: [example.org, example.net]\nauth_method: [demo, internal]\ndemo_realm: ACME\nhost_config:\n  example.net: {demo_retries: 5}\n', '/x/xmppctl.yml', plugins)
    const org = config.forHost('example.org') as unknown as Record<string, unknown>
    const net = config.forHost('example.net') as unknown as Record<string, unknown>
    assert.deepEqual(org.auth_method, ['demo', 'internal'])
    assert.equal(org.demo_realm, 'ACME')
    assert.equal(org.demo_retries, 2)
    assert.equal(net.demo_retries, 5)
  })

  it('locates plugin key problems like core ones, with the plugin\'s own check and did-you-mean', (t) => {
    register(t, demoDefinition({users: {}}))
    const found = problems('auth_method: [demo]\ndemo_realm: two words\ndemo_retries: 9\ndemo_retrys: 1\n')
    assert.deepEqual(
      found.map(({location, message, hint}) => ({location, message, hint})),
      [
        {location: '/etc/xmppctl/xmppctl.yml:2:13', message: 'demo_realm must not contain spaces', hint: undefined},
        {location: '/etc/xmppctl/xmppctl.yml:3:15', message: 'demo_retries must be an integer ≥ 0 and ≤ 5, not 9', hint: undefined},
        {location: '/etc/xmppctl/xmppctl.yml:4:1', message: 'unknown key demo_retrys', hint: 'did you mean demo_retries?'},
      ],
    )
  })

  it('requires the keys a used plugin backend needs, and only then', (t) => {
    register(t, demoDefinition({users: {}}))
    assert.deepEqual(problems('auth_method: [internal]\n'), [])
    const [problem] = problems('hosts: [example.org]\nauth_method: [demo]\n')
    assert.equal(problem.location, '/etc/xmppctl/xmppctl.yml:2:14')
    assert.equal(problem.message, 'auth_method demo needs demo_realm, which is not set')
  })

  it('suggests a plugin method for a typo, and says why a known plugin cannot be used', (t) => {
    register(t, demoDefinition({users: {}}))
    const [typo] = problems('auth_method: [dmeo]\n')
    assert.equal(typo.message, 'auth_method[0] must be one of internal, external, saslauthd, pam, jwt, anonymous, ldap, gssapi, demo (auth plugins), not "dmeo"')
    assert.equal(typo.hint, 'did you mean demo?')
    const [http] = problems('auth_method: [http]\n')
    assert.equal(http.message, 'auth_method[0] is http, which the auth plugin xmppctl-auth-http provides, and it is not loaded')
    assert.equal(http.hint, 'the auth plugin xmppctl-auth-http is installed but failed to load: SyntaxError: Unexpected token; see "xmppctl plugins list"')
    assert.throws(() => requireAuthMethod('http', plugins), /provided by the auth plugin xmppctl-auth-http, which is not loaded/)
    assert.equal(requireAuthMethod('demo', plugins), 'demo')
  })

  it('without loaded plugins, only xmppctl\'s own methods are valid', () => {
    plugins = NO_PLUGINS
    const [problem] = problems('auth_method: [demo]\n')
    assert.match(problem.message, /^auth_method\[0\] must be one of internal, external, saslauthd, pam, jwt, anonymous, ldap, gssapi, not "demo"$/)
  })
})

describe('a plugin backend in the chain', () => {
  it('accepts and rejects through the chain, offering PLAIN only over TLS', async (t) => {
    const state = {users: {alice: 'secret'}}
    register(t, demoDefinition(state))
    const {auth} = authFixture(t, 'hosts: [example.org]\nauth_method: [demo]\ndemo_realm: ACME\n', {plugins})
    const host = auth.get('example.org')!
    assert.deepEqual(await host.mechanisms(TLS13), ['PLAIN'])
    assert.deepEqual(await host.mechanisms(PLAIN_TCP), [])
    assert.equal((await host.checkPassword('alice', 'secret')).result, 'accepted')
    const wrong = await host.checkPassword('alice', 'nope')
    assert.equal(wrong.result, 'rejected')
    assert.equal(wrong.method, undefined)
    assert.equal(wrong.attempts[0].method, 'demo')
  })

  it('turns a plugin that throws into "unavailable", never "rejected", and never a crash', async (t) => {
    const state = {users: {alice: 'secret'}, throws: true}
    register(t, demoDefinition(state))
    const {auth} = authFixture(t, 'hosts: [example.org]\nauth_method: [demo]\ndemo_realm: ACME\nauth_use_cache: false\n', {plugins})
    const outcome = await auth.get('example.org')!.checkPassword('alice', 'secret')
    assert.equal(outcome.result, 'unavailable')
    assert.match((outcome as {reason: string}).reason, /demo backend down for example\.org/)
    await assert.rejects(auth.get('example.org')!.chain.userExists('alice'), UnavailableError)
  })

  it('says "cannot" for what a plugin leaves out, and survives a create() that throws', async (t) => {
    register(t, demoDefinition({users: {}}), {
      method: 'fragile',
      description: 'cannot even start',
      create: () => {
        throw new Error('missing native module')
      },
    })
    const {auth} = authFixture(t, 'hosts: [example.org]\nauth_method: [demo, fragile]\ndemo_realm: ACME\n', {plugins})
    const [demo, fragile] = auth.get('example.org')!.chain.backends
    await assert.rejects(demo.setPassword('alice', 'x'), (error) => error instanceof UnsupportedError && error.message === 'the demo backend cannot set passwords')
    await assert.rejects(demo.getScramCredentials('alice', 'sha256'), UnsupportedError)
    const capabilities = await fragile.capabilities()
    assert.equal(capabilities.plain, false)
    assert.match(capabilities.unavailable ?? '', /the fragile backend of the plugin xmppctl-auth-fragile could not be created: missing native module/)
    assert.equal((await fragile.checkPassword('alice', 'x')).result, 'unavailable')
  })
})

describe('plugins install targets', () => {
  it('tells directories and tarballs from package names', (t) => {
    const dir = tempDir(t)
    assert.deepEqual(installTarget('xmppctl-auth-http'), {argument: 'xmppctl-auth-http', kind: 'npm'})
    assert.deepEqual(installTarget('@acme/xmppctl-auth-sso@1.2.0'), {argument: '@acme/xmppctl-auth-sso@1.2.0', kind: 'npm'})
    assert.deepEqual(installTarget('https://github.com/acme/xmppctl-auth-sso'), {argument: 'https://github.com/acme/xmppctl-auth-sso', kind: 'url'})
    assert.throws(() => installTarget('.', dir), /has no package\.json/)
    assert.throws(() => installTarget('./plugin.tgz', dir), /no such directory or tarball/)
  })
})
