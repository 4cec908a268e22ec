/** Shared setup for auth tests: a real configuration and a real SQLite store in a temp directory. */
import type {PluginRegistry} from '../../../src/config/plugins.js'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {addUser} from '../../../src/accounts/index.js'
import {type AuthOptions, HostAuthenticators, createHostAuthenticators} from '../../../src/auth/index.js'
import type {ConnectionSecurity} from '../../../src/sasl/session.js'
import {type Configuration, parseConfig} from '../../../src/config/index.js'
import {SqliteAccountStore} from '../../../src/store/sqlite/index.js'

export const SECRET = Buffer.from('0123456789abcdef0123456789abcdef')

export interface AuthFixture {
  dir: string
  config: Configuration
  store: SqliteAccountStore
  auth: HostAuthenticators
  add(jid: string, password: string): Promise<void>
}

/** A config (YAML text, without data_dir) and an open store; everything is closed and removed after the test. */
export function authFixture(t: {after(fn: () => unknown): void}, yaml: string, {plugins, ...options}: AuthOptions & {plugins?: PluginRegistry} = {}): AuthFixture {
  const dir = mkdtempSync(path.join(tmpdir(), 'xmppctl-auth-'))
  const file = path.join(dir, 'xmppctl.yml')
  const text = `data_dir: ./data\nauth_scram_iterations: 4096\n${yaml}`
  writeFileSync(file, text)
  const config = parseConfig(text, file, plugins)
  const store = SqliteAccountStore.open(config.dataDir)
  const auth = createHostAuthenticators(config, store, {secret: SECRET, capabilitiesTtl: 0, ...options})
  t.after(async () => {
    await auth.close()
    await store.close()
    rmSync(dir, {recursive: true, force: true})
  })
  return {dir, config, store, auth, add: async (jid, password) => void (await addUser({config, store}, jid, password))}
}

export const PLAIN_TCP: ConnectionSecurity = {encrypted: false, channelBindings: {}}
export const TLS13: ConnectionSecurity = {encrypted: true, tlsVersion: 'TLSv1.3', channelBindings: {'tls-exporter': Buffer.alloc(32, 7)}}
export const TLS12: ConnectionSecurity = {encrypted: true, tlsVersion: 'TLSv1.2', channelBindings: {'tls-unique': Buffer.alloc(12, 9)}}
