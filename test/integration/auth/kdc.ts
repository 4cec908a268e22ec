/**
 * A real MIT Kerberos KDC for the GSSAPI tests: a private realm, database,
 * kdc.conf and krb5.conf in a temporary directory (reached through
 * KRB5_CONFIG and KRB5_KDC_PROFILE, never /etc), krb5kdc on a loopback port
 * below 32768, a keytab holding xmpp/localhost for the server, and a client
 * keytab and credential cache for alice. krb5kdc is killed by its pid.
 */
import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {freePort} from '../../helpers.js'
import {supervise, waitListening} from './daemons.js'

export const REALM = 'EXAMPLE.ORG'
export const KRB5KDC = '/usr/sbin/krb5kdc'
export const KDB5_UTIL = '/usr/sbin/kdb5_util'
export const KADMIN_LOCAL = '/usr/sbin/kadmin.local'
export const KINIT = '/usr/bin/kinit'
export const ALICE_PASSWORD = 'pa:ss wörd€'

type Context = {after(fn: () => unknown): void}

/** Why a KDC cannot run here, or false; under CI=true the tests fail instead of skipping. */
export function kdcUnavailable(): string | false {
  if (process.env.CI === 'true') return false
  for (const file of [KRB5KDC, KDB5_UTIL, KADMIN_LOCAL, KINIT]) if (!existsSync(file)) return `${file} is not installed (apt install krb5-kdc krb5-admin-server krb5-user)`
  return false
}

export interface Kdc {
  dir: string
  port: number
  /** KRB5_CONFIG and KRB5_KDC_PROFILE for child processes. */
  env: NodeJS.ProcessEnv
  krb5Conf: string
  /** Holds xmpp/localhost@EXAMPLE.ORG (mode 0600). */
  keytab: string
  /** alice's ticket-granting ticket (FILE: credential cache). */
  aliceCache: string
  kadmin(query: string): string
  stop(): Promise<void>
}

/** Starts a private KDC for EXAMPLE.ORG; it and its files are gone after the test. */
export async function startKdc(t: Context): Promise<Kdc> {
  const dir = mkdtempSync(path.join(tmpdir(), 'xmppctl-kdc-'))
  chmodSync(dir, 0o755)
  t.after(() => rmSync(dir, {recursive: true, force: true}))
  const port = await freePort()
  const krb5Conf = path.join(dir, 'krb5.conf')
  const kdcConf = path.join(dir, 'kdc.conf')
  // TCP first (udp_preference_limit 1); the KDC listens on loopback only, UDP and TCP on one port.
  writeFileSync(krb5Conf, `[libdefaults]
 default_realm = ${REALM}
 dns_lookup_kdc = false
 dns_lookup_realm = false
 dns_canonicalize_hostname = false
 rdns = false
 udp_preference_limit = 1
[realms]
 ${REALM} = {
  kdc = 127.0.0.1:${port}
 }
[domain_realm]
 localhost = ${REALM}
`)
  writeFileSync(kdcConf, `[kdcdefaults]
 kdc_listen = 127.0.0.1:${port}
 kdc_tcp_listen = 127.0.0.1:${port}
[realms]
 ${REALM} = {
  database_name = ${dir}/principal
  key_stash_file = ${dir}/stash
  acl_file = ${dir}/kadm5.acl
  max_life = 1h
  supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
 }
[logging]
 kdc = FILE:${dir}/kdc.log
`)
  writeFileSync(path.join(dir, 'kadm5.acl'), '')
  const env = {...process.env, KRB5_CONFIG: krb5Conf, KRB5_KDC_PROFILE: kdcConf}
  const run = (file: string, args: string[], input?: string) => execFileSync(file, args, {env, input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe']})
  run(KDB5_UTIL, ['create', '-s', '-r', REALM, '-P', 'master-key-password'])
  const kadmin = (query: string) => run(KADMIN_LOCAL, ['-r', REALM, '-q', query])
  kadmin(`addprinc -randkey xmpp/localhost@${REALM}`)
  kadmin(`addprinc -pw "${ALICE_PASSWORD}" alice@${REALM}`)
  const keytab = path.join(dir, 'xmpp.keytab')
  kadmin(`ktadd -k ${keytab} xmpp/localhost@${REALM}`)
  chmodSync(keytab, 0o600)
  const aliceKeytab = path.join(dir, 'alice.keytab')
  kadmin(`ktadd -k ${aliceKeytab} -norandkey alice@${REALM}`)

  // -n: in the foreground, so the pid is ours to kill.
  const child: ChildProcess = spawn(KRB5KDC, ['-n', '-r', REALM], {env, stdio: ['ignore', 'ignore', 'pipe']})
  const {exited, stderr, stop} = supervise(child)
  t.after(stop)
  if (!(await waitListening([port], exited))) throw new Error(`krb5kdc did not start: ${stderr().trim()}`)
  const aliceCache = path.join(dir, 'alice.ccache')
  run(KINIT, ['-k', '-t', aliceKeytab, '-c', `FILE:${aliceCache}`, `alice@${REALM}`])
  return {dir, port, env, krb5Conf, keytab, aliceCache, kadmin, stop}
}
