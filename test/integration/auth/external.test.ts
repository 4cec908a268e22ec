import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {ExternalBackend} from '../../../src/auth/backends/external.js'
import {silentAuthLog} from '../../../src/auth/index.js'
import {PoolError} from '../../../src/auth/process-pool.js'
import {PROJECT_ROOT, tempDir} from '../../helpers.js'
import {TLS13, authFixture} from '../../unit/auth/setup.js'

export const SCRIPTS = path.join(PROJECT_ROOT, 'test', 'fixtures', 'auth')
const script = (name: string) => path.join(SCRIPTS, name)
const PASSWORD = 'pa:ss wörd€'

function backend(t: {after(fn: () => unknown): void}, name: string, options: Partial<ConstructorParameters<typeof ExternalBackend>[0]> = {}) {
  const lines: string[] = []
  const log = {...silentAuthLog, warn: (line: string) => lines.push(line), error: (line: string) => lines.push(line)}
  const external = new ExternalBackend({host: 'example.org', program: script(name), protocol: 'generic', poolSize: 1, timeout: 1000, log, backoffMs: 10, ...options})
  t.after(() => external.close())
  return {external, lines}
}

async function failure(promise: Promise<unknown>): Promise<PoolError> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof PoolError, String(error))
    return error
  }

  assert.fail('expected a PoolError')
}

describe('the external backend with real programs', () => {
  for (const [protocol, name] of [['generic', 'generic.sh'], ['ejabberd', 'ejabberd.pl']] as const) {
    it(`speaks the ${protocol} protocol: a password with ":" and non-ASCII characters`, async (t) => {
      const {external} = backend(t, name, {protocol})
      assert.deepEqual(await external.checkPassword('alice', PASSWORD), {result: 'accepted'})
      assert.deepEqual(await external.checkPassword('alice', 'pa:ss'), {result: 'rejected', reason: 'the program answered 0'})
      assert.equal(await external.userExists('alice'), true)
      assert.equal(await external.userExists('bob'), false)
    })
  }

  it('registers and removes users with the ejabberd protocol, and says the generic one cannot', async (t) => {
    await backend(t, 'ejabberd.pl', {protocol: 'ejabberd'}).external.createUser('carol', 'x:y')
    await backend(t, 'ejabberd.pl', {protocol: 'ejabberd'}).external.removeUser('carol')
    await assert.rejects(backend(t, 'generic.sh').external.createUser('carol', 'x'), /the external backend cannot create accounts with the generic protocol/)
  })

  it('refuses to send a line break in the generic protocol', async (t) => {
    const outcome = await backend(t, 'generic.sh').external.checkPassword('alice', 'a\nauth:alice:example.org:x')
    assert.equal(outcome.result, 'rejected')
  })

  it('fails a request as unavailable when the program does not flush, then recovers', async (t) => {
    const {external} = backend(t, 'noflush.pl')
    const outcome = await external.checkPassword('alice', PASSWORD)
    assert.equal(outcome.result, 'unavailable')
    assert.match((outcome as {reason: string}).reason, /gave no reply within 1 s/)
  })

  it('shows garbage replies as bytes and restarts the program', async (t) => {
    const {external} = backend(t, 'garbage.sh')
    const error = await failure(external.ask(['auth', 'alice', 'example.org', 'x']))
    assert.equal(error.detail.kind, 'garbage')
    assert.match(error.message, /answered "yes\\n": the reply line must be exactly "1" or "0"/)
    await failure(external.ask(['auth', 'alice', 'example.org', 'x']))
    assert.equal(external.processes().spawned, 2)
  })

  it('detects a protocol mismatch from the reply (ejabberd configured, generic program answering a line)', async (t) => {
    // The generic program answers "0\n" to its first line once it sees a newline: sent by a request long enough.
    const {external} = backend(t, 'trivial.sh', {protocol: 'ejabberd'})
    const error = await failure(external.ask(['isuser', 'a\n', 'example.org']))
    assert.equal(error.detail.mismatch, 'generic')
  })

  it('fails the request in flight when the program exits, and restarts it with backoff', async (t) => {
    const {external} = backend(t, 'exit-after-one.sh')
    assert.equal(await external.ask(['auth', 'alice', 'example.org', 'x']), false)
    const error = await failure(external.ask(['auth', 'alice', 'example.org', 'x']))
    assert.equal(error.detail.kind, 'exit')
    assert.equal(error.detail.served, 1)
    assert.match(error.message, /exited with code 0 after answering 1 request/)
    assert.equal(await external.ask(['auth', 'alice', 'example.org', 'x']), false)
    assert.equal(external.processes().spawned, 2)
  })

  it('reports a program that exits at start, with its stderr in the log', async (t) => {
    const {external, lines} = backend(t, 'exit-at-start.sh')
    const error = await failure(external.ask(['isuser', 'alice', 'example.org']))
    assert.equal(error.detail.kind, 'exit')
    assert.equal(error.detail.served, 0)
    assert.equal(error.detail.exitCode, 3)
    assert.ok(lines.some((line) => /cannot open \/etc\/xmpp-auth\.conf/.test(line)), lines.join('\n'))
  })

  it('reports a missing program as unavailable', async (t) => {
    const {external} = backend(t, 'no-such-program')
    const outcome = await external.checkPassword('alice', 'x')
    assert.equal(outcome.result, 'unavailable')
    assert.match((outcome as {reason: string}).reason, /cannot be started: spawn .*ENOENT/)
  })

  it('runs requests in parallel across a pool of processes', async (t) => {
    const {external} = backend(t, 'generic.sh', {poolSize: 3})
    const results = await Promise.all(Array.from({length: 30}, (_, index) => external.checkPassword('alice', index % 2 ? PASSWORD : 'no')))
    assert.equal(results.filter((outcome) => outcome.result === 'accepted').length, 15)
    assert.ok(external.processes().spawned >= 2 && external.processes().spawned <= 3)
  })

  it('logs the program\'s stderr', async (t) => {
    const {external, lines} = backend(t, 'stderr.sh')
    await external.checkPassword('alice', 'x')
    await external.close()
    assert.ok(lines.some((line) => /\(stderr\): debug: got a auth request/.test(line)), lines.join('\n'))
  })
})

describe('external behind the chain and the cache', () => {
  it('logs in over PLAIN and answers the second check from the cache', async (t) => {
    const counter = path.join(tempDir(t, 'xmppctl-extauth-'), 'requests.txt')
    const fixture = authFixture(t, `hosts: [example.org, example.net]\nauth_method: [external]\nextauth_program: bash ${script('counting.sh')} ${counter}\n`)
    const login = async (host: string) => {
      const session = (await fixture.auth.get(host)!.start('PLAIN', TLS13))!
      return session.step(Buffer.from(`\0alice\0${PASSWORD}`))
    }

    assert.equal((await login('example.org')).type, 'success')
    assert.equal((await login('example.org')).type, 'success')
    assert.equal(readFileSync(counter, 'utf8'), 'auth\n')
    // Another host has its own cache: the program is asked again.
    assert.equal((await login('example.net')).type, 'success')
    assert.equal(readFileSync(counter, 'utf8'), 'auth\nauth\n')
    fixture.auth.invalidate('example.org', 'alice')
    assert.equal((await login('example.org')).type, 'success')
    assert.equal(readFileSync(counter, 'utf8'), 'auth\nauth\nauth\n')
  })

  it('offers PLAIN only (no SCRAM) with an external backend', async (t) => {
    const fixture = authFixture(t, `hosts: [example.org]\nauth_method: [external]\nextauth_program: ${script('generic.sh')}\n`)
    assert.deepEqual(await fixture.auth.get('example.org')!.mechanisms(TLS13), ['PLAIN'])
  })

  it('fails with temporary-auth-failure, not not-authorized, when the program hangs', async (t) => {
    const fixture = authFixture(t, `hosts: [example.org]\nauth_method: [external]\nextauth_program: ${script('hang.sh')}\nextauth_timeout: 1\n`)
    const session = (await fixture.auth.get('example.org')!.start('PLAIN', TLS13))!
    const step = await session.step(Buffer.from(`\0alice\0${PASSWORD}`))
    assert.equal(step.type === 'failure' && step.condition, 'temporary-auth-failure')
  })
})
