/**
 * The servers of the federation tests, each on its own loopback address on
 * the standard ports (5222, 5269) inside the test's network namespace:
 * ours in this process, Prosody and ejabberd as child processes with
 * private configurations. Each is stopped when its test ends.
 */
import {execFile, execFileSync, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {chownSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'

import {addUser} from '../../../src/accounts/index.js'
import {Configuration} from '../../../src/config/index.js'
import {defaultSettings, type Settings} from '../../../src/config/schema.js'
import {createLogger} from '../../../src/server/log.js'
import {XmppServer} from '../../../src/server/server.js'
import {openAccountStore} from '../../../src/store/index.js'
import {tempDir} from '../../helpers.js'
import {daemonDir} from '../migrate/servers.js'
import {NO_ARCHIVING, RawClient, startTestServer} from '../server/helpers.js'
import {createPki, stopChild, waitForPort} from './netns.js'

type After = {after(fn: () => unknown): void}

export interface OurServer {
  server: XmppServer
  domain: string
  address: string
}

/** Our server for `domain` on `address`, with the certificate `cert` (PEM with key), trusting `ca`, and an account per user ("USER pw"). */
export async function startOurs(t: After, options: {domain: string; address: string; cert: {cert: string; key: string}; ca: string; users: string[]; settings?: Partial<Settings>}): Promise<OurServer> {
  const dir = tempDir(t, 'xmppctl-s2s-')
  const settings: Settings = {
    ...defaultSettings(),
    ...NO_ARCHIVING,
    hosts: [options.domain],
    auth_scram_iterations: 4096,
    shaper_rules: {c2s_shaper: 'none'},
    certfiles: [options.cert.cert, options.cert.key],
    listen: [
      {port: 5222, ip: options.address, module: 'c2s', starttls: 'required', tls: false},
      {port: 5269, ip: options.address, module: 's2s', starttls: 'required', tls: false},
    ],
    s2s_cafile: options.ca,
    s2s_dns_timeout: 2,
    s2s_connect_timeout: 3,
    ...options.settings,
  }
  const config = new Configuration(path.join(dir, 'xmppctl.yml'), settings)
  // XMPPCTL_TEST_S2S_LOG=debug shows what each of our servers does, on stderr.
  const level = process.env.XMPPCTL_TEST_S2S_LOG
  const server = new XmppServer(config, level === 'debug' || level === 'info' ? {logger: createLogger(level, (line) => process.stderr.write(`[${options.domain}] ${line}`))} : {})
  await server.start()
  t.after(() => server.stop())
  const store = await openAccountStore(config)
  for (const user of options.users) await addUser({config, store}, `${user}@${options.domain}`, `${user} pw`)
  await store.close()
  return {server, domain: options.domain, address: options.address}
}

/** A raw client logged in to our server at `address` as `user@domain` (STARTTLS, PLAIN, resource "r", initial presence). */
export async function loginOurs(t: After, address: string, domain: string, user: string): Promise<RawClient> {
  const socket = net.connect({host: address, port: 5222})
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  const client = new RawClient(socket)
  t.after(() => client.end())
  const header = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${domain}' version='1.0'>`
  client.write(header)
  await client.until(/<\/stream:features>/)
  client.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
  await client.until(/<proceed[^>]*\/>/)
  await client.startTls(domain)
  client.write(header)
  await client.until(/<\/stream:features>/)
  client.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${user}\0${user} pw`).toString('base64')}</auth>`)
  await client.until(/<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'\/>/)
  client.write(header)
  await client.until(/<\/stream:features>/)
  client.write("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>")
  await client.until(/<\/iq>/)
  client.jid = `${user}@${domain}/r`
  client.write("<iq type='get' id='roster0'><query xmlns='jabber:iq:roster'/></iq>")
  await client.until(/id='roster0'[^>]*(\/>|>[\s\S]*?<\/iq>)/)
  client.write('<presence/>')
  return client
}

/**
 * A raw server-to-server stream from `peer` to our server at `address:port`
 * for `domain`: STARTTLS with the CA-signed certificate `cert` of `peer`,
 * then SASL EXTERNAL, and the stream after it opened.
 */
export async function externalS2s(t: After, options: {address: string; port: number; domain: string; peer: string; cert: {cert: string; key: string}; ca: string; bidi?: boolean}): Promise<RawClient> {
  const header = `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' from='${options.peer}' to='${options.domain}' version='1.0'>`
  const socket = net.connect({host: options.address, port: options.port})
  await new Promise((resolve) => socket.once('connect', resolve))
  const client = new RawClient(socket)
  t.after(() => client.end())
  client.write(header)
  const plain = await client.until(/<\/stream:features>/)
  if (!plain.includes("<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>")) throw new Error(`no required STARTTLS alone: ${plain}`)
  client.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
  await client.until(/<proceed [^>]*\/>/)
  await client.startTls(options.domain, {cert: readFileSync(options.cert.cert), key: readFileSync(options.cert.key), ca: readFileSync(options.ca)})
  client.write(header)
  const secured = await client.until(/<\/stream:features>/)
  if (!secured.includes("<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms>")) throw new Error(`no EXTERNAL: ${secured}`)
  // XEP-0288 §2: asked after TLS and before authentication, the stream then carries the server's stanzas to the peer too.
  if (options.bidi) client.write("<bidi xmlns='urn:xmpp:bidi'/>")
  client.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>${Buffer.from(options.peer).toString('base64')}</auth>`)
  await client.until(/<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'\/>/)
  client.write(header)
  await client.until(/<\/stream:features>/)
  return client
}

export interface PeerServer {
  domain: string
  address: string
  /** The server's log so far. */
  log(): string
}

/**
 * Prosody 0.12 for `domain` on `address` (c2s 5222, s2s 5269), trusting the
 * test CA, with dialback, and the accounts `users` ("USER pw").
 */
export async function startProsody(t: After, options: {domain: string; address: string; cert: {cert: string; key: string}; ca: string; users: string[]; secureAuth?: boolean}): Promise<PeerServer> {
  const dir = tempDir(t, 'xmppctl-prosody-')
  const data = path.join(dir, 'data')
  mkdirSync(data, {mode: 0o700})
  const certs = path.join(dir, 'certs')
  mkdirSync(certs)
  // Prosody finds DOMAIN.crt and DOMAIN.key in its certificates directory.
  writeFileSync(path.join(certs, `${options.domain}.crt`), execFileSync('cat', [options.cert.cert]))
  writeFileSync(path.join(certs, `${options.domain}.key`), execFileSync('cat', [options.cert.key]), {mode: 0o600})
  const config = path.join(dir, 'prosody.cfg.lua')
  writeFileSync(
    config,
    `-- written by xmppctl's federation tests
run_as_root = true
pidfile = "${dir}/prosody.pid"
data_path = "${data}"
log = { { levels = { min = "debug" }, to = "file", filename = "${dir}/prosody.log" } }
interfaces = { "${options.address}" }
c2s_ports = { 5222 }
s2s_ports = { 5269 }
c2s_direct_tls_ports = { }
s2s_direct_tls_ports = { }
http_ports = { }
https_ports = { }
modules_enabled = { "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping" }
authentication = "internal_hashed"
certificates = "${certs}"
ssl = { cafile = "${options.ca}" }
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = ${options.secureAuth ? 'true' : 'false'}
VirtualHost "${options.domain}"
`,
  )
  for (const user of options.users) execFileSync('prosodyctl', ['--config', config, 'register', user, options.domain, `${user} pw`], {stdio: 'ignore'})
  const child = spawn('prosody', ['--config', config, '-F'], {stdio: ['ignore', 'pipe', 'pipe']})
  let output = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  t.after(() => stopChild(child))
  const log = () => {
    try {
      return output + execFileSync('cat', [`${dir}/prosody.log`], {encoding: 'utf8'})
    } catch {
      return output
    }
  }

  await waitForPort(options.address, 5222, child, log)
  await waitForPort(options.address, 5269, child, log)
  return {domain: options.domain, address: options.address, log}
}

/**
 * ejabberd 23.01 for `domain` on `address` (c2s 5222, s2s 5269), trusting
 * the test CA, with mod_s2s_dialback, and the accounts `users` ("USER pw").
 * It runs as its own user (ejabberdctl switches), on a node of its own.
 */
export async function startEjabberd(t: After, options: {domain: string; address: string; cert: {both: string}; ca: string; users: string[]}): Promise<PeerServer> {
  const dir = daemonDir(t, 'xmppctl-ejabberd-', 'ejabberd')
  const spool = dir.owned('spool')
  const logs = dir.owned('logs')
  const certs = dir.owned('certs')
  const certfile = path.join(certs, `${options.domain}.pem`)
  writeFileSync(certfile, readFileSync(options.cert.both), {mode: 0o600})
  const cafile = path.join(certs, 'ca.crt')
  writeFileSync(cafile, readFileSync(options.ca))
  const [uid, gid] = ['-u', '-g'].map((flag) => Number(execFileSync('id', [flag, 'ejabberd'], {encoding: 'utf8'}).trim()))
  chownSync(certfile, uid, gid)
  const node = `xmppctl${randomBytes(4).toString('hex')}@localhost`
  const config = [
    `hosts: [${JSON.stringify(options.domain)}]`,
    'loglevel: info',
    'auth_method: [internal]',
    `certfiles: [${JSON.stringify(certfile)}]`,
    `ca_file: ${JSON.stringify(cafile)}`,
    's2s_use_starttls: required',
    'outgoing_s2s_families: [ipv4]',
    's2s_timeout: 60',
    'listen:',
    `  - {port: 5222, ip: ${JSON.stringify(options.address)}, module: ejabberd_c2s, starttls_required: true}`,
    `  - {port: 5269, ip: ${JSON.stringify(options.address)}, module: ejabberd_s2s_in}`,
    'modules:',
    '  mod_roster: {}',
    '  mod_disco: {}',
    '  mod_ping: {}',
    '  mod_s2s_dialback: {}',
    '  mod_admin_extra: {}',
  ].join('\n')
  writeFileSync(path.join(dir.root, 'ejabberd.yml'), `${config}\n`)
  writeFileSync(path.join(dir.root, 'inetrc'), '{lookup,[file,native]}.\n')
  const base = ['--config-dir', dir.root, '--config', path.join(dir.root, 'ejabberd.yml'), '--ctl-config', path.join(dir.root, 'none.cfg'), '--node', node, '--spool', spool, '--logs', logs]
  const ctl = (...args: string[]) =>
    new Promise<{status: number; output: string}>((resolve) => {
      execFile('ejabberdctl', [...base, ...args], {encoding: 'utf8', timeout: 60_000}, (error, stdout, stderr) => resolve({status: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: stdout + stderr}))
    })
  const log = () => {
    try {
      return readFileSync(path.join(logs, 'ejabberd.log'), 'utf8') + readFileSync(path.join(logs, 'error.log'), 'utf8')
    } catch {
      return ''
    }
  }

  t.after(async () => {
    await ctl('stop')
    await ctl('stopped')
  })
  const started = await ctl('start')
  if (started.status !== 0) throw new Error(`ejabberdctl start failed: ${started.output}`)
  const waited = await ctl('started')
  if (waited.status !== 0) throw new Error(`ejabberd did not start: ${waited.output}\n${log()}`)
  for (const user of options.users) {
    const registered = await ctl('register', user, options.domain, `${user} pw`)
    if (registered.status !== 0) throw new Error(`ejabberdctl register ${user} failed: ${registered.output}`)
  }

  await waitForPort(options.address, 5269, undefined, log)
  return {domain: options.domain, address: options.address, log}
}

/** Our server on 127.0.0.1 with an s2s listener, and raw peers that authenticate to it with SASL EXTERNAL (`peer(domain)`, to `localhost` or the domain `to` names) or not at all (`plain()`). */
export async function s2sServer(t: {after(fn: () => unknown): void}, settings: Partial<Settings> = {}) {
  const pki = createPki(tempDir(t, 'xmppctl-pki-'))
  const own = pki.issue('localhost')
  const started = await startTestServer(t, {
    settings: {
      certfiles: [own.cert, own.key],
      s2s_cafile: pki.ca,
      listen: [
        {port: 0, ip: '127.0.0.1', module: 'c2s', starttls: 'required', tls: false},
        {port: 0, ip: '127.0.0.1', module: 's2s', starttls: 'required', tls: false},
      ],
      ...settings,
    },
  })
  const port = started.server.listenerStatus().find((listener) => listener.module === 's2s')!.port
  const peer = (domain = 'peer.test', {bidi = false, to = 'localhost'} = {}) => externalS2s(t, {address: '127.0.0.1', port, domain: to, peer: domain, cert: pki.issue(domain), ca: pki.ca, bidi})
  const plain = async () => {
    const socket = net.connect({host: '127.0.0.1', port})
    await new Promise((resolve) => socket.once('connect', resolve))
    const client = new RawClient(socket)
    t.after(() => client.end())
    return client
  }

  return {...started, port, peer, plain}
}
