/**
 * Real clients against users of the external (generic and ejabberd
 * protocols), saslauthd, PAM and JWT backends (issue 6, "Proof with real
 * clients"): @xmpp/client logs alice in over STARTTLS and bob over direct
 * TLS with PLAIN, the only mechanism these backends can serve, they chat, and
 * a wrong password or an unknown user gets not-authorized. slixmpp logs in
 * through each backend too, and is refused with a wrong password.
 *
 * The internal store stays empty and auth_method names only the backend under
 * test, so every login here went through that backend.
 *
 * @xmpp/client base64-encodes PLAIN as Latin-1 (btoa), so its passwords are
 * ASCII, with ":" to catch backends that split on it, and the external
 * programs and PAM password file are generated for them; slixmpp sends UTF-8
 * and uses test/fixtures/auth's programs and pamService's file, with their
 * "pa:ss wörd€".
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {existsSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {xml} from '@xmpp/client'

import type {Settings} from '../../src/config/schema.js'
import {PROJECT_ROOT, tempDir} from '../helpers.js'
import {PASSWORD, pamService, startSaslauthd, systemTestsUnavailable} from '../integration/auth/system.js'
import {type TestServer, startTestServer} from '../integration/server/helpers.js'
import {type Connected, type SlixmppEvent, connect, runSlixmpp, slixmppAvailable} from './clients.js'

type Context = {after(fn: () => unknown): void; skip(message?: string): void}

/** The accounts the generated backends know, for @xmpp/client. */
const USERS = {alice: 'alice:s3cret pw', bob: 'b:o:b pass'} as const
const FIXTURES = path.join(PROJECT_ROOT, 'test', 'fixtures', 'auth')
const saslauthdUnavailable = systemTestsUnavailable() ?? (existsSync('/usr/sbin/saslauthd') ? undefined : 'saslauthd is not installed (apt install sasl2-bin)')
const pamUnavailable = systemTestsUnavailable()
// Under CI a missing slixmpp fails the tests (a .ci/run that forgot the package must not pass quietly).
const noSlixmpp = slixmppAvailable || process.env.CI === 'true' ? false : 'python3-slixmpp is not installed'

/** @xmpp/client logged in with PLAIN, the only mechanism these backends can serve. */
function connectPlain(t: Context, server: TestServer, username: string, password: string, directTls = false): Promise<Connected> {
  // PAM answers a wrong password after its fail delay (about 2 s, randomised; pam_pwdfile asks
  // for it), and saslauthd -n 1 answers one request at a time: more than the 2 s default.
  return connect(t, server, {username, password, mechanism: 'PLAIN', directTls, timeout: 10_000})
}

const notAuthorized = {name: 'SASLError', condition: 'not-authorized'}

/**
 * What every backend must pass: alice (STARTTLS) and bob (direct TLS) log in
 * with PLAIN and get their JIDs, exchange messages both ways, and the wrong
 * password and an unknown user are refused with not-authorized.
 */
async function proveBackend(t: Context, server: TestServer, passwords: {alice: string; bob: string; wrong: string}): Promise<void> {
  const alice = await connectPlain(t, server, 'alice', passwords.alice)
  assert.deepEqual(alice.offered, ['PLAIN'])
  assert.match(alice.jid, /^alice@localhost\/.+/)
  const bob = await connectPlain(t, server, 'bob', passwords.bob, true)
  assert.match(bob.jid, /^bob@localhost\/.+/)

  for (const who of [alice, bob]) {
    await who.xmpp.send(xml('presence'))
    await who.next((s) => s.is('presence') && s.attrs.from === who.jid)
  }

  // To the bare JID: routed to bob's available resource (RFC 6121 §8.5.2.1.1); the reply goes to alice's full JID.
  await alice.xmpp.send(xml('message', {to: 'bob@localhost', type: 'chat'}, xml('body', {}, 'hi bob')))
  const got = await bob.next((s) => s.is('message'))
  assert.equal(got.attrs.from, alice.jid)
  assert.equal(got.getChildText('body'), 'hi bob')
  await bob.xmpp.send(xml('message', {to: alice.jid, type: 'chat'}, xml('body', {}, 'hi alice')))
  const reply = await alice.next((s) => s.is('message'))
  assert.equal(reply.attrs.from, bob.jid)
  assert.equal(reply.getChildText('body'), 'hi alice')
  // Closed while the server runs: a client still open when the server stops waits out its timeout.
  await Promise.all([alice.xmpp.stop(), bob.xmpp.stop()])

  // After alice's accepted password may sit in the auth cache: a wrong one must still fail.
  await Promise.all([
    assert.rejects(connectPlain(t, server, 'alice', passwords.wrong), notAuthorized),
    assert.rejects(connectPlain(t, server, 'nobody', passwords.alice), notAuthorized),
  ])
}

/** One slixmpp run with PLAIN over STARTTLS. */
function slixmpp(server: TestServer, jid: string, password: string): Promise<SlixmppEvent[]> {
  return runSlixmpp({jid, password, mechanism: 'PLAIN', port: server.starttlsPort, timeout: 10})
}

/** slixmpp logs alice in with `password` and is refused with `wrong`. */
async function proveWithSlixmpp(server: TestServer, password: string, wrong: string): Promise<void> {
  const events = await slixmpp(server, 'alice@localhost', password)
  const session = events.find((event) => event.event === 'session')
  assert.ok(session, JSON.stringify(events))
  assert.equal(session.mechanism, 'PLAIN')
  assert.match(String(session.jid), /^alice@localhost\/.+/)
  const refused = await slixmpp(server, 'alice@localhost', wrong)
  assert.ok(refused.some((event) => event.event === 'failed_auth'), JSON.stringify(refused))
  assert.ok(!refused.some((event) => event.event === 'session'), JSON.stringify(refused))
}

const serverWith = (t: Context, settings: Partial<Settings>) => startTestServer(t, {settings})

/** An extauth program for USERS on host localhost, in the generic (line) protocol. */
function genericProgram(dir: string): string {
  const accepted = Object.entries(USERS).map(([user, password]) => `'${user}:localhost:${password}'`).join('|')
  const known = Object.keys(USERS).join('|')
  const file = path.join(dir, 'extauth.sh')
  // At most 4 fields on the first ":"s: the password keeps its own.
  writeFileSync(file, `#!/bin/bash
while IFS= read -r line; do
  IFS=: read -r cmd user host pass <<< "$line"
  case "$cmd" in
    auth) case "$user:$host:$pass" in ${accepted}) echo 1 ;; *) echo 0 ;; esac ;;
    isuser) case "$user" in ${known}) echo 1 ;; *) echo 0 ;; esac ;;
    *) echo 0 ;;
  esac
done
`, {mode: 0o755})
  return file
}

/** The same accounts in the ejabberd protocol (2-byte big-endian lengths). */
function ejabberdProgram(dir: string): string {
  const accounts = Object.entries(USERS).map(([user, password]) => `'${user}' => '${password}'`).join(', ')
  const file = path.join(dir, 'extauth.pl')
  writeFileSync(file, `#!/usr/bin/perl
use strict;
use warnings;
binmode STDIN;
binmode STDOUT;
$| = 1;
my %accounts = (${accounts});
while (read(STDIN, my $header, 2) == 2) {
  my $length = unpack('n', $header);
  my $data = '';
  while (length($data) < $length) {
    my $got = read(STDIN, $data, $length - length($data), length($data));
    exit 0 unless $got;
  }
  my ($cmd, $user, $host, $pass) = split(/:/, $data, 4);
  my $ok = 0;
  if ($cmd eq 'auth') { $ok = ($host eq 'localhost' && exists $accounts{$user} && defined $pass && $pass eq $accounts{$user}) ? 1 : 0 }
  elsif ($cmd eq 'isuser') { $ok = exists $accounts{$user} ? 1 : 0 }
  print pack('nn', 2, $ok);
}
`, {mode: 0o755})
  return file
}

/** A pam_pwdfile password file for USERS (SHA-512 crypt, as pamService makes alice's). */
function pwfileForUsers(dir: string): string {
  const file = path.join(dir, 'passwords')
  const lines = Object.entries(USERS).map(([user, password]) => `${user}:${execFileSync('openssl', ['passwd', '-6', '-stdin'], {input: `${password}\n`, encoding: 'utf8'}).trim()}\n`)
  writeFileSync(file, lines.join(''), {mode: 0o600})
  return file
}

describe('real clients with users of the external backend', {concurrency: true}, () => {
  for (const [protocol, program] of [['generic', genericProgram], ['ejabberd', ejabberdProgram]] as const) {
    it(`@xmpp/client: two users of an extauth program (${protocol} protocol) log in with PLAIN, chat, and a wrong password gets not-authorized`, async (t) => {
      const extauth = program(tempDir(t, 'xmppctl-extauth-'))
      const started = await serverWith(t, {auth_method: ['external'], extauth_program: extauth, extauth_protocol: protocol})
      await proveBackend(t, started, {...USERS, wrong: 'alice:s3cret'})
    })
  }

  for (const [protocol, fixture] of [['generic', 'generic.sh'], ['ejabberd', 'ejabberd.pl']] as const) {
    it(`slixmpp logs in through ${fixture} (${protocol} protocol) with a UTF-8 password containing ":"`, {skip: noSlixmpp}, async (t) => {
      const started = await serverWith(t, {auth_method: ['external'], extauth_program: path.join(FIXTURES, fixture), extauth_protocol: protocol})
      await proveWithSlixmpp(started, PASSWORD, 'pa:ss')
    })
  }
})

describe('real clients with users of the saslauthd backend (a real saslauthd -a pam)', {skip: saslauthdUnavailable, concurrency: true}, () => {
  it('@xmpp/client: two users log in with PLAIN, chat, and a wrong password gets not-authorized', async (t) => {
    const service = pamService(t, {pwfile: pwfileForUsers(tempDir(t, 'xmppctl-pwfile-'))})
    const daemon = await startSaslauthd(t)
    const started = await serverWith(t, {auth_method: ['saslauthd'], saslauthd_socket: daemon.socket, cyrus_service_name: service.name})
    await proveBackend(t, started, {...USERS, wrong: 'alice:wrong'})
  })

  it('slixmpp logs in with a UTF-8 password containing ":"', {skip: noSlixmpp}, async (t) => {
    const service = pamService(t)
    const daemon = await startSaslauthd(t)
    const started = await serverWith(t, {auth_method: ['saslauthd'], saslauthd_socket: daemon.socket, cyrus_service_name: service.name})
    await proveWithSlixmpp(started, PASSWORD, 'pa:ss')
  })
})

describe('real clients with users of the pam backend (pam_pwdfile, through dist/native/pam-helper)', {skip: pamUnavailable, concurrency: true}, () => {
  it('@xmpp/client: two users log in with PLAIN, chat, and a wrong password gets not-authorized', async (t) => {
    const service = pamService(t, {pwfile: pwfileForUsers(tempDir(t, 'xmppctl-pwfile-'))})
    const started = await serverWith(t, {auth_method: ['pam'], pam_service: service.name})
    await proveBackend(t, started, {...USERS, wrong: 'alice:wrong'})
  })

  it('slixmpp logs in with a UTF-8 password containing ":"', {skip: noSlixmpp}, async (t) => {
    const service = pamService(t)
    const started = await serverWith(t, {auth_method: ['pam'], pam_service: service.name})
    await proveWithSlixmpp(started, PASSWORD, 'pa:ss')
  })
})

describe('real clients with users of the jwt backend (the token is the PLAIN password)', {concurrency: true}, () => {
  async function jwtServer(t: Context) {
    const {SignJWT, exportJWK, generateKeyPair} = await import('jose')
    const dir = tempDir(t, 'xmppctl-jwt-')
    const {privateKey, publicKey} = await generateKeyPair('ES256')
    const other = await generateKeyPair('ES256')
    const keyFile = path.join(dir, 'jwt.jwk')
    writeFileSync(keyFile, JSON.stringify(await exportJWK(publicKey)))
    const sign = (jid: string, key = privateKey) => new SignJWT({jid}).setProtectedHeader({alg: 'ES256'}).setExpirationTime('5m').sign(key)
    const started = await serverWith(t, {auth_method: ['jwt'], jwt_key: keyFile})
    return {started, sign, otherKey: other.privateKey}
  }

  it('@xmpp/client: two users log in with their tokens, chat, and a token for another JID or key gets not-authorized', async (t) => {
    const {started, sign, otherKey} = await jwtServer(t)
    // bob's token, valid in itself, is the wrong password for alice: its jid claim does not match.
    await proveBackend(t, started, {alice: await sign('alice@localhost'), bob: await sign('bob@localhost'), wrong: await sign('bob@localhost')})
    await assert.rejects(connectPlain(t, started, 'alice', await sign('alice@localhost', otherKey)), notAuthorized)
  })

  it('slixmpp logs in with its token', {skip: noSlixmpp}, async (t) => {
    const {started, sign, otherKey} = await jwtServer(t)
    await proveWithSlixmpp(started, await sign('alice@localhost'), await sign('alice@localhost', otherKey))
  })
})
