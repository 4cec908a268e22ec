import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {chmodSync, copyFileSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import type {AddressInfo} from 'node:net'
import path from 'node:path'
import {describe, it} from 'node:test'
import tls from 'node:tls'

import {type CliResult, runCli, tempDir, writeConfig} from '../helpers.js'

const CONFIG = 'hosts: [example.org, example.net]\n'

function setup(t: {after(fn: () => void): void}, config = CONFIG) {
  const dir = tempDir(t)
  writeConfig(dir, config)
  const certs = path.join(dir, 'data', 'certs')
  const cli = (args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult> => runCli(args, {cwd: dir, env})
  return {dir, certs, cli}
}

const json = (result: CliResult) => JSON.parse(result.stdout)

/** Runs the real openssl; throws with its stderr when it fails. */
function openssl(args: string[], cwd?: string): string {
  const result = spawnSync('openssl', args, {cwd, encoding: 'utf8'})
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${result.stderr}`)
  return result.stdout + result.stderr
}

/** `YYYYMMDDHHMMSSZ`, `days` from now, for `openssl ca -startdate/-enddate`. */
function opensslDate(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z')
}

/** A throwaway CA in `dir` that signs leaves with chosen dates and digest, via `openssl ca`. */
function makeCa(dir: string, name = 'Test CA') {
  mkdirSync(dir, {recursive: true})
  const crt = path.join(dir, 'ca.crt')
  const key = path.join(dir, 'ca.key')
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', crt, '-days', '30', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  writeFileSync(path.join(dir, 'index.txt'), '')
  writeFileSync(path.join(dir, 'serial'), '1000\n')
  writeFileSync(path.join(dir, 'ca.cnf'), `[ca]\ndefault_ca = test\n[test]\ndir = ${dir}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir\nserial = $dir/serial\ndefault_md = sha256\npolicy = any\ncopy_extensions = copy\nunique_subject = no\n[any]\ncommonName = supplied\n`)
  let count = 0
  return {
    crt,
    /** Writes `<out>.key` and `<out>.crt` for the given SAN DNS names. */
    issue(out: string, dns: string[], options: {from?: number; to?: number; md?: string; key?: string[]} = {}): {crt: string; key: string} {
      count++
      const leafKey = `${out}.key`
      const csr = path.join(dir, `leaf${count}.csr`)
      openssl(['req', '-new', ...(options.key ?? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']), '-nodes', '-keyout', leafKey, '-out', csr, '-subj', `/CN=${dns[0]}`,
        '-addext', `subjectAltName=${dns.map((name) => `DNS:${name}`).join(',')}`])
      openssl(['ca', '-batch', '-config', path.join(dir, 'ca.cnf'), '-cert', crt, '-keyfile', key, '-in', csr, '-out', `${out}.crt`, '-notext',
        '-startdate', opensslDate(options.from ?? -1), '-enddate', opensslDate(options.to ?? 90), '-md', options.md ?? 'sha256'])
      return {crt: `${out}.crt`, key: leafKey}
    },
  }
}

describe('cert generate', () => {
  it('writes a self-signed certificate whose SANs openssl shows, key 0600 and certificate 0644', async (t) => {
    const {cli, certs} = setup(t)
    const result = await cli(['cert', 'generate', 'example.org', '--with-subdomains', 'conference,upload', '--days', '30'])
    assert.equal(result.status, 0, result.stderr)
    assert.match(result.stdout, /^example\.org: wrote data\/certs\/example\.org\.crt and data\/certs\/example\.org\.key \(ec:p256, self-signed, valid until \d{4}-\d\d-\d\d\)\n/)
    const crt = path.join(certs, 'example.org.crt')
    assert.equal(statSync(path.join(certs, 'example.org.key')).mode & 0o777, 0o600)
    assert.equal(statSync(crt).mode & 0o777, 0o644)
    const text = openssl(['x509', '-in', crt, '-text', '-noout'])
    assert.match(text, /Subject: CN ?= ?example\.org/)
    for (const name of [
      'DNS:example.org', 'DNS:conference.example.org', 'DNS:upload.example.org',
      'othername: XmppAddr::example.org', 'othername: XmppAddr::conference.example.org',
      'othername: SRVName::_xmpp-client.example.org', 'othername: SRVName::_xmpp-server.example.org', 'othername: SRVName::_xmpp-server.upload.example.org',
    ]) assert.ok(text.includes(name), `${name} in\n${text}`)
    assert.match(text, /Public Key Algorithm: id-ecPublicKey[\s\S]*NIST CURVE: P-256/)
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/)
    assert.match(openssl(['verify', '-CAfile', crt, crt]), /: OK/)
    assert.match(openssl(['x509', '-in', crt, '-noout', '-checkend', String(29 * 86400)]), /will not expire/)
    assert.match(openssl(['pkey', '-in', path.join(certs, 'example.org.key'), '-pubout']), /BEGIN PUBLIC KEY/)
  })

  it('names the host by dNSName alone with --dns-only, for peers that cannot read XmppAddr', async (t) => {
    const {cli, certs} = setup(t)
    assert.equal((await cli(['cert', 'generate', 'example.org', '--with-subdomains', 'conference', '--dns-only'])).status, 0)
    const text = openssl(['x509', '-in', path.join(certs, 'example.org.crt'), '-text', '-noout'])
    assert.match(text, /X509v3 Subject Alternative Name: \n\s+DNS:example\.org, DNS:conference\.example\.org\n/)
    assert.doesNotMatch(text, /othername/)
  })

  for (const [key, expected] of [['rsa:2048', /Public-Key: \(2048 bit\)[\s\S]*sha256WithRSAEncryption/], ['ed25519', /ED25519/]] as const) {
    it(`makes a ${key} key on request`, async (t) => {
      const {cli, certs} = setup(t)
      const result = await cli(['cert', 'generate', 'example.net', '--key', key, '--json'])
      assert.equal(result.status, 0, result.stderr)
      assert.equal(json(result).certificates[0].key, key)
      const crt = path.join(certs, 'example.net.crt')
      assert.match(openssl(['x509', '-in', crt, '-text', '-noout']), expected)
      assert.match(openssl(['verify', '-CAfile', crt, crt]), /: OK/)
    })
  }

  it('serves TLS that a client verifying the host name accepts, for the host and its components only', async (t) => {
    const {cli, certs} = setup(t)
    assert.equal((await cli(['cert', 'generate', 'example.org', '--with-subdomains', 'conference'])).status, 0)
    const cert = readFileSync(path.join(certs, 'example.org.crt'))
    const server = tls.createServer({key: readFileSync(path.join(certs, 'example.org.key')), cert}, (socket) => socket.end('hello'))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    t.after(() => server.close())
    const {port} = server.address() as AddressInfo
    const connect = (servername: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = tls.connect({host: '127.0.0.1', port, servername, ca: cert}, () => {
          let data = ''
          socket.setEncoding('utf8').on('data', (chunk: string) => (data += chunk))
          socket.on('end', () => resolve(data))
        })
        socket.on('error', reject)
      })
    assert.equal(await connect('example.org'), 'hello')
    assert.equal(await connect('conference.example.org'), 'hello')
    await assert.rejects(connect('example.net'), {code: 'ERR_TLS_CERT_ALTNAME_INVALID'})
  })

  it('refuses to overwrite without --force, and replaces with it', async (t) => {
    const {cli, certs} = setup(t)
    await cli(['cert', 'generate', 'example.org'])
    const before = readFileSync(path.join(certs, 'example.org.crt'), 'utf8')
    const refused = await cli(['cert', 'generate', 'example.org'])
    assert.equal(refused.status, 2)
    assert.match(refused.stderr, /^error: .*example\.org\.crt and .*example\.org\.key already exist \(pass --force to replace/)
    assert.equal(readFileSync(path.join(certs, 'example.org.crt'), 'utf8'), before)
    assert.equal((await cli(['cert', 'generate', 'example.org', '--force'])).status, 0)
    assert.notEqual(readFileSync(path.join(certs, 'example.org.crt'), 'utf8'), before)
    assert.equal(statSync(path.join(certs, 'example.org.key')).mode & 0o777, 0o600)
  })

  const bad: Array<[string, string[], RegExp]> = [
    ['an unknown host', ['cert', 'generate', 'example.com'], /^error: host example\.com is not configured \(configured: example\.org, example\.net\)/],
    ['an unknown key type', ['cert', 'generate', 'example.org', '--key', 'dsa:1024'], /^error: unknown key type "dsa:1024" \(use one of ec:p256, /],
    ['a bad subdomain', ['cert', 'generate', 'example.org', '--with-subdomains', 'a b'], /^error: invalid subdomain "a b"/],
    ['zero days', ['cert', 'generate', 'example.org', '--days', '0'], /^error: --days 0 is out of range \(give a whole number of days from 1 to 3650\)/],
  ]
  for (const [what, args, expected] of bad) {
    it(`refuses ${what} with exit 2 and one line`, async (t) => {
      const {cli} = setup(t)
      const result = await cli(args)
      assert.equal(result.status, 2)
      assert.equal(result.stdout, '')
      assert.match(result.stderr, expected)
      assert.equal(result.stderr.split('\n').length, 2)
    })
  }
})

describe('cert request', () => {
  it('writes a key and a CSR with the same names, which openssl verifies', async (t) => {
    const {cli, certs} = setup(t)
    const result = await cli(['cert', 'request', 'example.org', '--with-subdomains', 'upload', '--json'])
    assert.equal(result.status, 0, result.stderr)
    assert.deepEqual(json(result).requests[0].names.srv, ['_xmpp-client.example.org', '_xmpp-server.example.org', '_xmpp-server.upload.example.org'])
    const csr = path.join(certs, 'example.org.csr')
    const text = openssl(['req', '-in', csr, '-verify', '-text', '-noout'])
    assert.match(text, /verify OK/i)
    assert.match(text, /DNS:example\.org, DNS:upload\.example\.org, othername: XmppAddr::example\.org/)
    assert.match(text, /othername: SRVName::_xmpp-server\.upload\.example\.org/)
    assert.equal(statSync(path.join(certs, 'example.org.key')).mode & 0o777, 0o600)
    // The request's key signs it: the CA's certificate will match HOST.key.
    assert.equal(openssl(['req', '-in', csr, '-pubkey', '-noout']), openssl(['pkey', '-in', path.join(certs, 'example.org.key'), '-pubout']))
  })
})

describe('cert check', () => {
  it('passes a fresh self-signed certificate with a self-signed warning, and fails a missing one', async (t) => {
    const {cli} = setup(t)
    await cli(['cert', 'generate', 'example.org'])
    const one = await cli(['cert', 'check', 'example.org'])
    assert.equal(one.status, 0)
    assert.match(one.stdout, /^example\.org: warning — data\/certs\/example\.org\.crt, expires \d{4}-\d\d-\d\d \(36[45] days\), ec:prime256v1, ecdsa-with-SHA256, self-signed\n {2}warning cert-self-signed: /)
    assert.equal((await cli(['cert', 'check', 'example.org', '--fail-on', 'warning'])).status, 1)
    const all = await cli(['cert', 'check', '--json'])
    assert.equal(all.status, 1)
    const body = json(all)
    assert.deepEqual(body.findings.map((finding: {id: string; subject: string; severity: string}) => [finding.subject, finding.id, finding.severity]), [
      ['example.org', 'cert-self-signed', 'warning'],
      ['example.net', 'cert-missing', 'error'],
    ])
    assert.equal(body.hosts[0].certificate.keyMatches, true)
    assert.equal(body.hosts[0].match.type, 'DNS-ID')
    assert.equal(body.failed, true)
    assert.equal(body.failOn, 'error')
  })

  it('notes, on a federating server, a certificate that does not name the host\'s room domain, and not once it does', async (t) => {
    const {dir, cli} = setup(t, 'hosts: [example.org]\nlisten: [{port: 5269, module: s2s}]\n')
    await cli(['cert', 'generate', 'example.org'])
    const hostOnly = json(await cli(['cert', 'check', '--json']))
    assert.deepEqual(hostOnly.findings.map((finding: {id: string; subject: string; severity: string}) => [finding.subject, finding.id, finding.severity]), [
      ['example.org', 'cert-self-signed', 'warning'],
      ['conference.example.org', 'cert-service-uncovered', 'notice'],
    ])
    assert.equal(hostOnly.findings[1].message, `${path.join(dir, 'data/certs/example.org.crt')} does not name conference.example.org, which federates with example.org's certificate: other servers authenticate it by dialback only, and those with s2s_secure_auth refuse it`)
    assert.equal(hostOnly.findings[1].fix, '"xmppctl cert generate example.org --with-subdomains conference --force" (or use a CA certificate that names conference.example.org)')
    await cli(['cert', 'generate', 'example.org', '--with-subdomains', 'conference', '--force'])
    assert.deepEqual(json(await cli(['cert', 'check', '--json'])).findings.map((finding: {id: string}) => finding.id), ['cert-self-signed'])
  })

  it('reports each broken certificate: expired, not yet valid, key mismatch, SHA-1, RSA-1024, wrong host, expiring soon', async (t) => {
    const hosts = ['expired.test', 'future.test', 'mismatch.test', 'sha1.test', 'rsa1024.test', 'wrong.test', 'soon.test', 'week.test', 'month.test', 'good.test']
    const {cli, certs, dir} = setup(t, `hosts: [${hosts.join(', ')}]\n`)
    mkdirSync(certs, {recursive: true})
    const ca = makeCa(path.join(dir, 'ca'))
    const at = (host: string) => path.join(certs, host)
    ca.issue(at('expired.test'), ['expired.test'], {from: -60, to: -1})
    ca.issue(at('future.test'), ['future.test'], {from: 2, to: 60})
    ca.issue(at('mismatch.test'), ['mismatch.test'])
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${at('mismatch.test')}.key`])
    ca.issue(at('sha1.test'), ['sha1.test'], {md: 'sha1'})
    ca.issue(at('rsa1024.test'), ['rsa1024.test'], {key: ['-newkey', 'rsa:1024']})
    ca.issue(at('wrong.test'), ['other.test'])
    ca.issue(at('soon.test'), ['soon.test'], {to: 0.5})
    ca.issue(at('week.test'), ['week.test'], {to: 3})
    ca.issue(at('month.test'), ['month.test'], {to: 20})
    ca.issue(at('good.test'), ['good.test'])
    for (const host of hosts) chmodSync(`${at(host)}.key`, 0o600)
    const result = await cli(['cert', 'check', '--json'], {SSL_CERT_FILE: ca.crt})
    assert.equal(result.status, 1, result.stderr)
    const body = json(result)
    const found = (host: string) => body.findings.filter((finding: {subject: string}) => finding.subject === host).map((finding: {id: string; severity: string}) => `${finding.severity} ${finding.id}`)
    assert.deepEqual(found('expired.test'), ['error cert-expired'])
    assert.deepEqual(found('future.test'), ['error cert-not-yet-valid'])
    assert.deepEqual(found('mismatch.test'), ['error cert-key-mismatch'])
    assert.deepEqual(found('sha1.test'), ['error cert-signature-weak'])
    assert.deepEqual(found('rsa1024.test'), ['error cert-key-weak'])
    assert.deepEqual(found('wrong.test'), ['error cert-wrong-host'])
    assert.deepEqual(found('soon.test'), ['error cert-expires-soon'])
    assert.deepEqual(found('week.test'), ['warning cert-expires-soon'])
    assert.deepEqual(found('month.test'), ['notice cert-expires-soon'])
    assert.deepEqual(found('good.test'), [])
    const good = body.hosts.find((report: {host: string}) => report.host === 'good.test')
    assert.equal(good.status, 'ok')
    assert.equal(good.certificate.trusted, true)
    assert.equal(good.certificate.selfSigned, false)
    const sha1 = body.hosts.find((report: {host: string}) => report.host === 'sha1.test')
    assert.equal(sha1.certificate.signatureAlgorithm, 'ecdsa-with-SHA1')
    // Every finding carries what to do.
    for (const finding of body.findings) assert.ok(finding.fix.length > 0)
    // Without the test CA in the trust store, a CA-signed certificate is untrusted (a warning only).
    const untrusted = json(await cli(['cert', 'check', 'good.test', '--json'], {SSL_CERT_FILE: path.join(dir, 'xmppctl.yml')}))
    assert.deepEqual(untrusted.findings.map((finding: {id: string}) => finding.id), ['cert-untrusted'])
  })

  it('warns about a chain out of order and a key others can read', async (t) => {
    const {cli, certs, dir} = setup(t)
    mkdirSync(certs, {recursive: true})
    const ca = makeCa(path.join(dir, 'ca'))
    const other = makeCa(path.join(dir, 'other'), 'Other CA')
    const leaf = ca.issue(path.join(dir, 'leaf'), ['example.org'])
    writeFileSync(path.join(certs, 'example.org.crt'), readFileSync(leaf.crt, 'utf8') + readFileSync(other.crt, 'utf8') + readFileSync(ca.crt, 'utf8'))
    copyFileSync(leaf.key, path.join(certs, 'example.org.key'))
    chmodSync(path.join(certs, 'example.org.key'), 0o644)
    const body = json(await cli(['cert', 'check', 'example.org', '--json'], {SSL_CERT_FILE: ca.crt}))
    assert.deepEqual(body.findings.map((finding: {id: string; severity: string}) => `${finding.severity} ${finding.id}`), ['warning cert-key-readable', 'warning cert-chain-order'])
    assert.equal(body.hosts[0].certificate.trusted, true)
  })

  const bad: Array<[string, (certs: string) => void, RegExp]> = [
    ['a key where a certificate was expected', (certs) => openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path.join(certs, 'example.org.crt')]), /cert-unreadable: .*example\.org\.crt: contains a private key where a certificate was expected/],
    ['garbage', (certs) => writeFileSync(path.join(certs, 'example.org.crt'), 'not a certificate\n'), /cert-unreadable: .*example\.org\.crt: contains no PEM data/],
  ]
  for (const [what, make, expected] of bad) {
    it(`reports ${what} in certs/HOST.crt as an error`, async (t) => {
      const {cli, certs} = setup(t)
      mkdirSync(certs, {recursive: true})
      make(certs)
      const result = await cli(['cert', 'check', 'example.org'])
      assert.equal(result.status, 1)
      assert.match(result.stdout, expected)
    })
  }

  it('refuses an unknown host with exit 2', async (t) => {
    const {cli} = setup(t)
    const result = await cli(['cert', 'check', 'example.com', '--json'])
    assert.equal(result.status, 2)
    assert.equal(json(result).error.code, 'host-unknown')
  })
})

describe('cert list', () => {
  it('lists each certificate file with the hosts it covers', async (t) => {
    const {cli} = setup(t)
    assert.equal(json(await cli(['cert', 'list', '--json'])).length, 0)
    await cli(['cert', 'generate', 'example.org'])
    const result = await cli(['cert', 'list'])
    assert.equal(result.status, 0)
    assert.match(result.stdout, /^FILE +HOSTS +EXPIRES +DAYS +KEY +ISSUER\ndata\/certs\/example\.org\.crt +example\.org +\d{4}-\d\d-\d\d +36\d +ec:prime256v1 +self-signed\n$/)
    const [entry] = json(await cli(['cert', 'list', '--json']))
    assert.deepEqual(entry.hosts, ['example.org'])
    assert.equal(entry.keyMatches, true)
  })
})

/** A certbot tree: archive/NAME/*1.pem and live/NAME/*.pem symlinks to them. */
function certbotTree(root: string, name: string, issued: {crt: string; key: string}, caCrt: string): void {
  const archive = path.join(root, 'archive', name)
  const live = path.join(root, 'live', name)
  mkdirSync(archive, {recursive: true})
  mkdirSync(live, {recursive: true})
  const cert = readFileSync(issued.crt, 'utf8')
  const chain = readFileSync(caCrt, 'utf8')
  writeFileSync(path.join(archive, 'cert1.pem'), cert)
  writeFileSync(path.join(archive, 'chain1.pem'), chain)
  writeFileSync(path.join(archive, 'fullchain1.pem'), cert + chain)
  writeFileSync(path.join(archive, 'privkey1.pem'), readFileSync(issued.key), {mode: 0o600})
  chmodSync(path.join(archive, 'privkey1.pem'), 0o600)
  for (const file of ['cert', 'chain', 'fullchain', 'privkey']) symlinkSync(`../../archive/${name}/${file}1.pem`, path.join(live, `${file}.pem`))
  writeFileSync(path.join(live, 'README'), 'certbot README\n')
}

describe('cert import', () => {
  function certbotSetup(t: {after(fn: () => void): void}) {
    const env = setup(t, 'hosts: [example.org, example.net, chat.example.com]\n')
    const ca = makeCa(path.join(env.dir, 'ca'))
    const le = path.join(env.dir, 'letsencrypt')
    certbotTree(le, 'example.org', ca.issue(path.join(env.dir, 'org'), ['example.org', 'conference.example.org']), ca.crt)
    // One label deep: *.example.net does not cover example.net itself.
    certbotTree(le, 'wild', ca.issue(path.join(env.dir, 'wild'), ['*.example.com', '*.example.net']), ca.crt)
    return {...env, ca, le}
  }

  it('installs certbot certificates through live/ symlinks, matched by name, and reports hosts without one', async (t) => {
    const {cli, certs, le, ca} = certbotSetup(t)
    const result = await cli(['cert', 'import', le])
    assert.equal(result.status, 0, result.stderr)
    const lines = result.stdout.split('\n')
    assert.match(lines[0], /^example\.org: installed .*letsencrypt\/live\/example\.org\/fullchain\.pem → data\/certs\/example\.org\.crt \(expires \d{4}-\d\d-\d\d\)$/)
    assert.match(lines[1], /^chat\.example\.com: installed .*letsencrypt\/live\/wild\/fullchain\.pem → data\/certs\/chat\.example\.com\.crt/)
    assert.equal(lines[2], 'example.net: no certificate (no certificate names it)')
    assert.equal(lines[3], 'no server is running; it will use the new certificates when started')
    assert.equal(result.stderr, '')
    assert.equal(statSync(path.join(certs, 'example.org.key')).mode & 0o777, 0o600)
    assert.equal(statSync(path.join(certs, 'example.org.crt')).mode & 0o777, 0o644)
    // The full chain was installed: it verifies against the CA alone.
    assert.match(openssl(['verify', '-CAfile', ca.crt, path.join(certs, 'chat.example.com.crt')]), /: OK/)
    const check = await cli(['cert', 'check', 'example.org', 'chat.example.com'], {SSL_CERT_FILE: ca.crt})
    assert.equal(check.status, 0, check.stdout)
    assert.match(check.stdout, /^example\.org: ok — /)
    // A second run changes nothing.
    const again = json(await cli(['cert', 'import', le, '--json']))
    assert.deepEqual(again.imported.map((entry: {host: string; status: string}) => [entry.host, entry.status]), [['example.org', 'unchanged'], ['chat.example.com', 'unchanged']])
    assert.equal(again.reloadNeeded, false)
  })

  it('works as a certbot deploy hook: only the renewed lineage, and never widens permissions', async (t) => {
    const {cli, certs, le} = certbotSetup(t)
    chmodSync(path.join(le, 'archive', 'example.org', 'privkey1.pem'), 0o400)
    const env = {RENEWED_LINEAGE: path.join(le, 'live', 'example.org'), RENEWED_DOMAINS: 'example.org conference.example.org'}
    const result = json(await cli(['cert', 'import', '/nonexistent/ignored', '--json'], env))
    assert.equal(result.deployHook, true)
    assert.deepEqual(result.imported.map((entry: {host: string}) => entry.host), ['example.org'])
    assert.deepEqual(result.missing, [])
    assert.equal(statSync(path.join(certs, 'example.org.key')).mode & 0o777, 0o400)
    // A renewal of a lineage that no configured host uses is not an error.
    const unrelated = path.join(le, 'live', 'unrelated')
    mkdirSync(unrelated)
    writeFileSync(path.join(unrelated, 'fullchain.pem'), readFileSync(path.join(certs, 'example.org.crt')))
    const other = await cli(['cert', 'import'], {RENEWED_LINEAGE: unrelated, RENEWED_DOMAINS: 'unrelated.example'})
    assert.equal(other.status, 0)
  })

  it('imports from a plain directory of PEM files, pairing keys by their public key', async (t) => {
    const {cli, certs, dir} = setup(t)
    const ca = makeCa(path.join(dir, 'ca'))
    const pems = path.join(dir, 'pems')
    mkdirSync(pems)
    const issued = ca.issue(path.join(dir, 'x'), ['example.net'])
    copyFileSync(issued.crt, path.join(pems, 'server.crt'))
    copyFileSync(issued.key, path.join(pems, 'secret.key'))
    writeFileSync(path.join(pems, 'junk.pem'), 'nothing here\n')
    const result = await cli(['cert', 'import', pems])
    assert.equal(result.status, 0)
    assert.match(result.stdout, /^example\.net: installed pems\/server\.crt → data\/certs\/example\.net\.crt/m)
    assert.match(result.stdout, /^example\.org: no certificate \(no certificate names it\)$/m)
    assert.match(result.stderr, /^warning: skipped pems\/junk\.pem: no PEM data$/m)
    assert.equal(readFileSync(path.join(certs, 'example.net.key'), 'utf8').includes('PRIVATE KEY'), true)
  })

  it('exits 1 when no host got a certificate', async (t) => {
    const {cli, dir} = setup(t)
    const ca = makeCa(path.join(dir, 'ca'))
    const pems = path.join(dir, 'pems')
    mkdirSync(pems)
    const issued = ca.issue(path.join(pems, 'other'), ['other.example'])
    assert.ok(issued)
    const result = await cli(['cert', 'import', pems])
    assert.equal(result.status, 1)
    assert.match(result.stdout, /^example\.org: no certificate \(no certificate names it\)\nexample\.net: no certificate/)
  })

  const bad: Array<[string, (dir: string) => string, RegExp]> = [
    ['a missing directory', (dir) => path.join(dir, 'nope'), /^error: cannot read .*nope: ENOENT.* \(give a certbot directory/],
    ['an empty directory', (dir) => (mkdirSync(path.join(dir, 'empty')), path.join(dir, 'empty')), /^error: .*empty contains no PEM files/],
    ['a key where a certificate was expected', (dir) => (openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path.join(dir, 'k.pem')]), path.join(dir, 'k.pem')), /^error: .*k\.pem: contains a private key where a certificate was expected/],
    ['a garbage file', (dir) => (writeFileSync(path.join(dir, 'g.pem'), '-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n'), path.join(dir, 'g.pem')), /^error: .*g\.pem: contains no PEM data/],
  ]
  for (const [what, make, expected] of bad) {
    it(`refuses ${what} with exit 2`, async (t) => {
      const {cli, dir} = setup(t)
      const result = await cli(['cert', 'import', make(dir)])
      assert.equal(result.status, 2, result.stdout)
      assert.match(result.stderr, expected)
    })
  }
})
