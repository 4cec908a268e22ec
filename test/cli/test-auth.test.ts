import assert from 'node:assert/strict'
import {generateKeyPairSync, randomBytes} from 'node:crypto'
import {chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {type CliResult, PROJECT_ROOT, runCli, tempDir, writeConfig} from '../helpers.js'
import type {DiagnosticStep} from '../../src/auth/diagnose/report.js'

const SCRIPTS = path.join(PROJECT_ROOT, 'test', 'fixtures', 'auth')
const PASSWORD = 'pa:ss wörd€'

type Step = DiagnosticStep

const json = (result: CliResult) => JSON.parse(result.stdout) as {verdict: string; problems: number; steps: Step[]}
const step = (result: CliResult, id: string) => {
  const found = json(result).steps.find((candidate) => candidate.id === id)
  assert.ok(found, `no step ${id} in ${result.stdout}`)
  return found
}

function setup(t: {after(fn: () => void): void}, yaml: string) {
  const dir = tempDir(t)
  writeConfig(dir, `hosts: [example.org]\ndata_dir: ./data\nauth_scram_iterations: 4096\n${yaml}`)
  return {dir, cli: (args: string[], stdin?: string) => runCli(args, {cwd: dir, stdin})}
}

const external = (t: {after(fn: () => void): void}, program: string, more = '') => setup(t, `auth_method: [external]\nextauth_program: ${program}\nextauth_timeout: 1\n${more}`)
const run = (cli: ReturnType<typeof setup>['cli'], extra: string[] = []) => cli(['test-auth', 'external', 'alice@example.org', '--password-stdin', '--json', ...extra], `${PASSWORD}\n`)

describe('test-auth external', {concurrency: true}, () => {
  it('accepts alice with a correct generic program, and prints each step', async (t) => {
    const {cli} = external(t, path.join(SCRIPTS, 'generic.sh'))
    const result = await cli(['test-auth', 'external', 'alice@example.org', '--password-stdin'], `${PASSWORD}\n`)
    assert.equal(result.status, 0, result.stdout + result.stderr)
    assert.match(result.stdout, /^test-auth external on example\.org for alice@example\.org\n/)
    assert.match(result.stdout, /\n {2}ok {4}request auth:alice:example\.org:… +the program answered 1: the password is accepted \(\d+(\.\d)? ms\)\n/)
    assert.match(result.stdout, /\n {2}ok {4}password with ":" +a wrong password "xmppctl:probe:wrong" was answered 0/)
    assert.match(result.stdout, /\nverdict: accepted in \d/)
    assert.equal(result.stderr, '')
  })

  it('accepts alice with a correct ejabberd program', async (t) => {
    const {cli} = external(t, path.join(SCRIPTS, 'ejabberd.pl'), 'extauth_protocol: ejabberd\n')
    const result = await run(cli)
    assert.equal(result.status, 0, result.stdout)
    assert.equal(json(result).verdict, 'accepted')
    assert.equal(json(result).problems, 0)
  })

  it('says rejected with exit 1 for a wrong password', async (t) => {
    const {cli} = external(t, path.join(SCRIPTS, 'generic.sh'))
    const result = await cli(['test-auth', 'external', 'alice@example.org', '--password-stdin', '--json'], 'wrong\n')
    assert.equal(result.status, 1)
    assert.equal(json(result).verdict, 'rejected')
  })

  it('never shows the password a program echoes back, on stdout or stderr', async (t) => {
    const {cli, dir} = external(t, './echo.sh')
    // Echoes each request on stdout (the classic debug mistake) and on stderr.
    writeFileSync(path.join(dir, 'echo.sh'), '#!/bin/sh\nwhile IFS= read -r line; do echo "$line" >&2; echo "$line"; done\n', {mode: 0o755})
    const result = await run(cli)
    const shown = result.stdout + result.stderr
    assert.match(shown, /auth:alice:example\.org:<password>/)
    for (const secret of [PASSWORD, 'pa:ss', 'w\\xc3\\xb6rd']) assert.ok(!shown.includes(secret), `${secret} was shown`)
  })

  it('diagnoses a missing program', async (t) => {
    const {cli} = external(t, '/nonexistent/auth.sh')
    const result = await run(cli)
    assert.equal(result.status, 2)
    assert.match(step(result, 'program').detail, /\/nonexistent\/auth\.sh does not exist \(ENOENT\)/)
  })

  it('diagnoses a program that is not executable', async (t) => {
    const {cli, dir} = external(t, './auth.sh')
    copyFileSync(path.join(SCRIPTS, 'generic.sh'), path.join(dir, 'auth.sh'))
    chmodSync(path.join(dir, 'auth.sh'), 0o644)
    const result = await run(cli)
    assert.equal(result.status, 2)
    const found = step(result, 'program')
    assert.match(found.detail, /is not executable by this user \(mode 0644\)/)
    assert.match(found.fix!, /^chmod 755 /)
  })

  it('reports a world-writable program as a security finding', async (t) => {
    const {cli, dir} = external(t, './auth.sh')
    copyFileSync(path.join(SCRIPTS, 'generic.sh'), path.join(dir, 'auth.sh'))
    chmodSync(path.join(dir, 'auth.sh'), 0o777)
    const result = await run(cli)
    assert.equal(result.status, 1)
    assert.equal(json(result).verdict, 'accepted')
    const found = step(result, 'program-permissions')
    assert.equal(found.status, 'fail')
    assert.match(found.cause!, /security finding: any local user can replace the program/)
  })

  it('diagnoses a program that exits at start, with its exit code and stderr', async (t) => {
    const {cli} = external(t, path.join(SCRIPTS, 'exit-at-start.sh'))
    const result = await run(cli)
    assert.equal(result.status, 3)
    const found = step(result, 'start')
    assert.match(found.detail, /exits with code 3 at start, before receiving any request; stderr: cannot open \/etc\/xmpp-auth\.conf/)
  })

  it('diagnoses a program that exits after the first request', async (t) => {
    const {cli} = external(t, path.join(SCRIPTS, 'exit-after-one.sh'))
    const result = await run(cli)
    const found = step(result, 'isuser')
    assert.equal(found.status, 'fail')
    assert.match(found.detail, /exited with code 0 after answering 1 request/)
    assert.equal(found.cause, 'it exits after the first request')
    assert.match(found.fix!, /must loop/)
  })

  for (const name of ['noflush.pl', 'hang.sh']) {
    it(`diagnoses no reply within the timeout (${name}), pointing at a missing flush`, async (t) => {
      const {cli} = external(t, path.join(SCRIPTS, name))
      const result = await run(cli)
      assert.equal(result.status, 3)
      const found = step(result, 'exchange')
      assert.match(found.detail, /no reply to auth:alice:example\.org:… within 1 s/)
      assert.match(found.cause!, /does not flush its standard output/)
    })
  }

  it('shows the bytes of a garbage reply', async (t) => {
    const {cli} = external(t, path.join(SCRIPTS, 'garbage.sh'))
    const found = step(await run(cli), 'exchange')
    assert.match(found.detail, /the reply to .* was "yes\\n"/)
  })

  it('detects a generic program configured as ejabberd', async (t) => {
    const {cli} = external(t, path.join(SCRIPTS, 'generic.sh'), 'extauth_protocol: ejabberd\n')
    const found = step(await run(cli), 'protocol')
    assert.equal(found.status, 'fail')
    assert.match(found.detail, /answers the generic protocol/)
    assert.equal(found.fix, 'set extauth_protocol: generic')
  })

  it('detects an ejabberd program configured as generic', async (t) => {
    const {cli} = external(t, path.join(SCRIPTS, 'ejabberd.pl'))
    const found = step(await run(cli), 'protocol')
    assert.match(found.detail, /answers the ejabberd protocol/)
    assert.equal(found.fix, 'set extauth_protocol: ejabberd')
  })

  it('reports a program that splits passwords on every ":" (non-zero exit)', async (t) => {
    const {cli} = external(t, path.join(SCRIPTS, 'splitall.sh'))
    const result = await cli(['test-auth', 'external', 'alice@example.org', '--password-stdin', '--json'], 'plain\n')
    const found = step(result, 'colon-password')
    assert.equal(found.status, 'fail')
    assert.match(found.detail, /exited with code 1/)
    assert.match(found.cause!, /splits the request on every ":"/)
    assert.match(step(result, 'stderr').detail, /too many fields/)
  })

  it('reports a program that counts characters instead of bytes', async (t) => {
    const {cli} = external(t, path.join(SCRIPTS, 'charslen.pl'), 'extauth_protocol: ejabberd\n')
    const result = await cli(['test-auth', 'external', 'alice@example.org', '--password-stdin', '--json'], 'ascii\n')
    assert.notEqual(step(result, 'exchange').status, 'fail')
    assert.equal(step(result, 'colon-password').status, 'ok')
    const found = step(result, 'non-ascii-password')
    assert.equal(found.status, 'fail')
    assert.match(found.cause!, /counts the length in characters instead of UTF-8 bytes/)
  })

  it('reports writes on stderr', async (t) => {
    const {cli} = external(t, path.join(SCRIPTS, 'stderr.sh'))
    const found = step(await run(cli), 'stderr')
    assert.equal(found.status, 'warn')
    assert.match(found.detail, /debug: got a auth request/)
  })
})

describe('test-auth jwt', {concurrency: true}, async () => {
  const {SignJWT, exportJWK} = await import('jose')
  // Read when each token is signed: on a loaded machine the suite runs longer than jwt_clock_skew.
  const now = () => Math.floor(Date.now() / 1000)
  const families = [
    {alg: 'HS256', make: () => ({secret: randomBytes(32)})},
    {alg: 'RS256', make: () => generateKeyPairSync('rsa', {modulusLength: 2048})},
    {alg: 'PS384', make: () => generateKeyPairSync('rsa', {modulusLength: 2048})},
    {alg: 'ES256', make: () => generateKeyPairSync('ec', {namedCurve: 'P-256'})},
    {alg: 'ES384', make: () => generateKeyPairSync('ec', {namedCurve: 'P-384'})},
    {alg: 'ES512', make: () => generateKeyPairSync('ec', {namedCurve: 'P-521'})},
    {alg: 'EdDSA', make: () => generateKeyPairSync('ed25519')},
  ]

  async function jwtSetup(t: {after(fn: () => void): void}, family: (typeof families)[number], format: 'pem' | 'jwk' | 'jwks' = 'pem') {
    const material = family.make() as {secret?: Buffer; publicKey?: import('node:crypto').KeyObject; privateKey?: import('node:crypto').KeyObject}
    const {dir, cli} = setup(t, 'auth_method: [jwt]\njwt_key: ./key\n')
    let keyText: string
    if (material.secret) keyText = JSON.stringify({kty: 'oct', k: material.secret.toString('base64url'), kid: 'k1'})
    else if (format === 'pem') keyText = material.publicKey!.export({type: 'spki', format: 'pem'}) as string
    else {
      const jwk = {...(await exportJWK(material.publicKey!)), kid: 'k1'}
      keyText = JSON.stringify(format === 'jwks' ? {keys: [jwk]} : jwk)
    }

    writeFileSync(path.join(dir, 'key'), keyText)
    const signingKey = material.secret ?? material.privateKey!
    const sign = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
      new SignJWT(claims).setProtectedHeader({alg: family.alg, kid: 'k1', ...header}).sign(signingKey)
    const check = (token: string) => cli(['test-auth', 'jwt', 'alice@example.org', '--token-stdin', '--json'], `${token}\n`)
    return {sign, check}
  }

  for (const family of families) {
    it(`accepts a valid ${family.alg} token`, async (t) => {
      const {sign, check} = await jwtSetup(t, family, family.alg === 'ES384' ? 'jwks' : family.alg === 'EdDSA' ? 'jwk' : 'pem')
      const result = await check(await sign({jid: 'alice@example.org', exp: now() + 600}))
      assert.equal(result.status, 0, result.stdout + result.stderr)
      assert.equal(json(result).verdict, 'accepted')
    })
  }

  const failures: Array<[string, (sign: (claims: Record<string, unknown>, header?: Record<string, unknown>) => Promise<string>) => Promise<string>, string, RegExp]> = [
    ['a malformed token', async () => 'not.a-token', 'malformed', /the token is malformed/],
    ['an algorithm the key does not allow', async (sign) => tamperAlg(await sign({jid: 'alice@example.org'}), 'HS256'), 'algorithm', /algorithm HS256 is not allowed: the EC P-256 key allows only ES256/],
    ['alg none', async (sign) => tamperAlg(await sign({jid: 'alice@example.org'}), 'none'), 'algorithm', /algorithm none is not allowed/],
    ['an unknown kid', async (sign) => sign({jid: 'alice@example.org'}, {kid: 'other'}), 'kid', /no key in jwt_key has kid "other" \(known: k1\)/],
    ['a bad signature', async (sign) => flipSignature(await sign({jid: 'alice@example.org'})), 'signature', /the signature does not verify with the ES256 key "k1"/],
    ['an expired token', async (sign) => sign({jid: 'alice@example.org', exp: now() - 3600}), 'expired', /the token expired 3\d{3} s ago/],
    ['a token not yet valid', async (sign) => sign({jid: 'alice@example.org', nbf: now() + 7200}), 'not-yet-valid', /not valid for another 7\d{3} s .*check both clocks/],
    ['a missing JID claim', async (sign) => sign({sub: 'alice'}), 'jid-missing', /the token has no "jid" claim/],
    ['a JID mismatch', async (sign) => sign({jid: 'bob@example.org'}), 'jid-mismatch', /the token is for bob@example\.org, not alice@example\.org/],
  ]
  for (const [what, make, id, message] of failures) {
    it(`names the failing step for ${what}`, async (t) => {
      const {sign, check} = await jwtSetup(t, families[3], 'jwks')
      const result = await check(await make(sign))
      assert.equal(result.status, 1, result.stdout + result.stderr)
      assert.equal(json(result).verdict, 'rejected')
      const found = step(result, id)
      assert.equal(found.status, 'fail')
      assert.match(found.detail, message)
    })
  }

  it('tolerates a clock difference within jwt_clock_skew', async (t) => {
    const {sign, check} = await jwtSetup(t, families[0])
    const result = await check(await sign({jid: 'alice@example.org', nbf: now() + 10, exp: now() - 5}))
    assert.equal(json(result).verdict, 'accepted')
  })
})

function tamperAlg(token: string, alg: string): string {
  const [header, payload, signature] = token.split('.')
  const decoded = JSON.parse(Buffer.from(header, 'base64url').toString())
  return [Buffer.from(JSON.stringify({...decoded, alg})).toString('base64url'), payload, alg === 'none' ? '' : signature].join('.')
}

function flipSignature(token: string): string {
  const [header, payload, signature] = token.split('.')
  const bytes = Buffer.from(signature, 'base64url')
  bytes[0] ^= 1
  return [header, payload, bytes.toString('base64url')].join('.')
}

describe('test-auth internal, anonymous and all', {concurrency: true}, () => {
  it('checks an internal account and its password', async (t) => {
    const {cli} = setup(t, 'auth_scram_hash: [sha256]\n')
    await cli(['user', 'add', 'alice@example.org', '--password-stdin'], `${PASSWORD}\n`)
    const right = await cli(['test-auth', 'internal', 'alice@example.org', '--password-stdin', '--json'], `${PASSWORD}\n`)
    assert.equal(right.status, 0)
    assert.match(step(right, 'account').detail, /alice@example\.org exists \(enabled; SCRAM-SHA-256\)/)
    const wrong = await cli(['test-auth', 'internal', 'alice@example.org', '--password-stdin', '--json'], 'nope\n')
    assert.equal(wrong.status, 1)
    assert.equal(json(wrong).verdict, 'rejected')
  })

  it('shows what an anonymous login gets', async (t) => {
    const {cli} = setup(t, 'auth_method: [anonymous]\n')
    const result = await cli(['test-auth', 'anonymous', '--json'])
    assert.equal(result.status, 0)
    assert.match(step(result, 'sasl-anonymous').detail, /a random JID such as [a-z2-7]{26}@example\.org/)
  })

  it('refuses a password without a JID', async (t) => {
    const {cli} = setup(t, '')
    const result = await cli(['test-auth', 'internal', '--password-stdin'], 'x\n')
    assert.equal(result.status, 2)
    assert.match(result.stderr, /a password or token needs a JID/)
  })

  it('runs every backend of every host and explains the mechanisms offered', async (t) => {
    const dir = tempDir(t)
    writeConfig(dir, `hosts: [example.org, example.net]\ndata_dir: ./data\nauth_scram_iterations: 4096\nhost_config:\n  example.net: {auth_method: [external, anonymous], extauth_program: ${path.join(SCRIPTS, 'generic.sh')}}\n`)
    const cli = (args: string[], stdin?: string) => runCli(args, {cwd: dir, stdin})
    await cli(['user', 'add', 'bob@example.org', '--password-stdin'], 'bobpw\n')
    const result = await cli(['test-auth', 'all', '--jid', 'alice@example.net', '--password-stdin', '--json'], `${PASSWORD}\n`)
    assert.equal(result.status, 0, result.stdout + result.stderr)
    const {hosts} = JSON.parse(result.stdout) as {hosts: Array<{host: string; backends: Array<{backend: string; verdict: string}>; offers: Array<{connection: string; mechanisms: string[]}>}>}
    assert.deepEqual(hosts.map((host) => [host.host, host.backends.map((backend) => `${backend.backend}:${backend.verdict}`)]), [
      ['example.org', ['internal:reachable']],
      ['example.net', ['external:accepted', 'anonymous:reachable']],
    ])
    assert.deepEqual(hosts[0].offers.map((offer) => [offer.connection, offer.mechanisms]), [
      ['TLS 1.3', ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']],
      ['TLS 1.2', ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']],
      ['no TLS', ['SCRAM-SHA-256', 'SCRAM-SHA-1']],
    ])
    assert.deepEqual(hosts[1].offers[0].mechanisms, ['PLAIN', 'ANONYMOUS'])
    const text = await cli(['test-auth', 'all'])
    assert.match(text.stdout, /host example\.net \(auth_method: external, anonymous\)/)
    assert.match(text.stdout, /- SCRAM-SHA-256 +the external backend has no SCRAM-SHA-256 credentials \(it checks plaintext passwords only\)/)
    assert.match(text.stdout, /- PLAIN +the connection is not encrypted/)
  })
})

describe('test-auth creates nothing', () => {
  it('leaves no data directory, account store or auth secret behind, whatever the backend', async (t) => {
    const {dir, cli} = setup(t, `auth_method: [saslauthd, internal]\nsaslauthd_socket: ${path.join(tempDir(t), 'no-saslauthd')}\nextauth_program: ${path.join(SCRIPTS, 'generic.sh')}\n`)
    const runs = [
      ['test-auth', 'saslauthd', 'alice@example.org', '--password-stdin'],
      ['test-auth', 'external', 'alice@example.org', '--password-stdin'],
      ['test-auth', 'internal', 'alice@example.org', '--password-stdin'],
      ['test-auth', 'all', '--jid', 'alice@example.org', '--password-stdin'],
    ]
    for (const args of runs) {
      const result = await cli(args, `${PASSWORD}\n`)
      assert.ok(result.status !== null && result.status <= 3, `${args.join(' ')}: ${result.stderr}`)
      assert.equal(existsSync(path.join(dir, 'data')), false, `${args.join(' ')} created the data directory`)
    }

    // Nor anything in a data directory that exists.
    mkdirSync(path.join(dir, 'data'), {mode: 0o700})
    for (const args of runs) await cli(args, `${PASSWORD}\n`)
    assert.deepEqual(readdirSync(path.join(dir, 'data')), [])
  })

  it('says the internal backend has no account store yet', async (t) => {
    const {dir, cli} = setup(t, '')
    const result = await cli(['test-auth', 'internal', '--json'])
    assert.equal(result.status, 1)
    assert.deepEqual(
      {status: step(result, 'store').status, detail: step(result, 'store').detail},
      {status: 'fail', detail: `there is no account store at ${path.join(dir, 'data', 'accounts.sqlite')}`},
    )
    assert.equal(existsSync(path.join(dir, 'data')), false)
  })
})
