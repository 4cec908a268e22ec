/**
 * Commands run in this process (in-process.ts): what each returns, the
 * object `--json` prints, checked field by field, with no CLI start-up per
 * call. The spawned suites beside this one prove the same commands through
 * the real entry point.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import ConfigCheck from '../../commands/config/check.js'
import MucCreate from '../../commands/muc/create.js'
import MucList from '../../commands/muc/list.js'
import RosterAdd from '../../commands/roster/add.js'
import RosterList from '../../commands/roster/list.js'
import UserExists from '../../commands/user/exists.js'
import UserInfo from '../../commands/user/info.js'
import {addUser} from '../../src/accounts/index.js'
import {loadConfig} from '../../src/config/index.js'
import {openAccountStore} from '../../src/store/index.js'
import {tempDir, writeConfig} from '../helpers.js'
import {runInProcess} from './in-process.js'

async function setup(t: {after(fn: () => void): void}) {
  const dir = tempDir(t)
  const file = writeConfig(dir, 'hosts: [example.org]\nauth_scram_iterations: 4096\n')
  const config = loadConfig(file)
  const store = await openAccountStore(config)
  await addUser({config, store}, 'alice@example.org', 'alice pw')
  await store.close()
  return {dir, run: <T>(command: Parameters<typeof runInProcess<T>>[0], ...argv: string[]) => runInProcess<T>(command, argv, {cwd: dir})}
}

describe('commands run in process', () => {
  it('user info returns the account without secrets, and user exists says no with exit 1', async (t) => {
    const {run} = await setup(t)
    const info = await run(UserInfo, 'alice@example.org')
    assert.equal(info.exitCode, 0, info.stderr)
    const {createdAt, ...rest} = info.result as unknown as {createdAt: string}
    assert.ok(!Number.isNaN(Date.parse(createdAt)))
    assert.deepEqual(rest, {
      jid: 'alice@example.org',
      state: 'enabled',
      hashes: ['sha1', 'sha256'],
      iterations: 4096,
      plaintext: false,
      data: {rosterItems: 0, subscriptionRequests: 0, offlineMessages: 0, vcard: 0, privateItems: 0, blockedJids: 0, lastActivity: 0, pepNodes: 0, pepItems: 0, archivedMessages: 0, archivePreferences: 0},
    })
    assert.doesNotMatch(info.stdout, /alice pw/)

    const absent = await run(UserExists, 'bob@example.org')
    assert.deepEqual({result: absent.result, exitCode: absent.exitCode}, {result: {jid: 'bob@example.org', exists: false}, exitCode: 1})
  })

  it('an unknown host is the CLI\'s one-line error with exit 2, and nothing is returned', async (t) => {
    const {run} = await setup(t)
    const outcome = await run(UserInfo, 'alice@example.net')
    assert.deepEqual(outcome, {
      result: undefined,
      exitCode: 2,
      stdout: '',
      stderr: 'error: host example.net is not configured (configured: example.org) (add example.net to "hosts" in the configuration, or use one of the configured hosts)\n',
    })
  })

  it('roster add and list return the items as stored', async (t) => {
    const {run} = await setup(t)
    const added = await run(RosterAdd, 'alice@example.org', 'Bob@Example.org', '--name', 'Bob', '--group', 'Friends', '--subscription', 'both')
    assert.deepEqual(added.result, {jid: 'alice@example.org', contact: 'bob@example.org', item: {contact: 'bob@example.org', name: 'Bob', subscription: 'both', ask: 'none', groups: ['Friends']}})
    const listed = await run(RosterList, 'alice@example.org')
    assert.deepEqual(listed.result, {jid: 'alice@example.org', items: [{contact: 'bob@example.org', name: 'Bob', subscription: 'both', ask: 'none', groups: ['Friends']}]})
  })

  it('muc create and list return the persistent room from the store when no server runs', async (t) => {
    const {run} = await setup(t)
    const created = await run(MucCreate, 'tea@conference.example.org', '--owner', 'alice@example.org', '--name', 'Tea party')
    assert.deepEqual(created.result, {jid: 'tea@conference.example.org', created: true, live: false})
    const listed = await run(MucList)
    assert.deepEqual(listed.result, {rooms: [{jid: 'tea@conference.example.org', name: 'Tea party', persistent: true, public: true, occupants: 0}], live: false})
  })

  it('config check returns the effective settings of each host', async (t) => {
    const {run} = await setup(t)
    const checked = await run(ConfigCheck)
    assert.equal(checked.exitCode, 0, checked.stderr)
    const result = checked.result as unknown as {hosts: Record<string, {auth_method: string[]; auth_scram_iterations: number}>; plugins: unknown[]}
    assert.deepEqual(Object.keys(result.hosts), ['example.org'])
    assert.deepEqual(result.hosts['example.org'].auth_method, ['internal'])
    assert.equal(result.hosts['example.org'].auth_scram_iterations, 4096)
    assert.deepEqual(result.plugins, [])
  })
})
