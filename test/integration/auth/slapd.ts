/**
 * A real OpenLDAP slapd for the ldap backend's tests: a private cn=config
 * (slapd.d) and mdb database in a temporary directory, a test CA and a server
 * certificate for 127.0.0.1, listening on loopback for plain LDAP (StartTLS
 * offered) and LDAPS. Nothing of the system slapd is used; the daemon is
 * killed by its pid when the test ends.
 */
import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {freePort} from '../../helpers.js'
import {supervise, waitListening} from './daemons.js'

export const SLAPD = '/usr/sbin/slapd'
export const SLAPADD = '/usr/sbin/slapadd'
export const BASE = 'dc=example,dc=org'
export const ADMIN_DN = `cn=admin,${BASE}`
export const ADMIN_PASSWORD = 'admin-secret'
export const SERVICE_DN = `cn=xmpp,ou=services,${BASE}`
export const SERVICE_PASSWORD = 'service:secret€'
/** The users' passwords: ':' and '€', and 200 bytes (a multi-byte character included). */
export const USERS: Record<string, string> = {
  alice: 'pa:ss wörd€',
  bob: `€${'b'.repeat(197)}`,
  carol: 'carol-password',
}

type Context = {after(fn: () => unknown): void}

/** Why slapd cannot run here, or undefined; under CI=true the tests fail instead of skipping. */
export function slapdUnavailable(): string | false {
  if (process.env.CI === 'true') return false
  if (!existsSync(SLAPD) || !existsSync(SLAPADD)) return 'slapd is not installed (apt install slapd ldap-utils)'
  return false
}

export interface Slapd {
  dir: string
  port: number
  ldapsPort: number
  url: string
  ldapsUrl: string
  /** The test CA's certificate (PEM file). */
  caFile: string
  /** A CA that did not sign slapd's certificate. */
  otherCaFile: string
  process: ChildProcess
  stop(): Promise<void>
}

function run(file: string, args: string[], input?: string): string {
  return execFileSync(file, args, {input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe']})
}

function makeCa(dir: string, name: string): {crt: string; key: string} {
  const crt = path.join(dir, `${name}.crt`)
  const key = path.join(dir, `${name}.key`)
  run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', crt, '-days', '30', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  return {crt, key}
}

function serverCertificate(dir: string, ca: {crt: string; key: string}): {crt: string; key: string} {
  const key = path.join(dir, 'slapd.key')
  const csr = path.join(dir, 'slapd.csr')
  const crt = path.join(dir, 'slapd.crt')
  const ext = path.join(dir, 'slapd.ext')
  run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=localhost'])
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
  run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.crt, '-CAkey', ca.key, '-CAcreateserial', '-out', crt, '-days', '30', '-extfile', ext])
  return {crt, key}
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64')

function configLdif(dir: string, tls: {ca: string; crt: string; key: string}): string {
  return `dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: ${dir}/slapd.pid
olcTLSCACertificateFile: ${tls.ca}
olcTLSCertificateFile: ${tls.crt}
olcTLSCertificateKeyFile: ${tls.key}

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file:///etc/ldap/schema/cosine.ldif

include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: ${BASE}
olcRootDN: ${ADMIN_DN}
olcRootPW: ${ADMIN_PASSWORD}
olcDbDirectory: ${dir}/db
olcDbMaxSize: 16777216
olcAccess: {0}to attrs=userPassword by anonymous auth by * none
olcAccess: {1}to * by dn.exact="${SERVICE_DN}" read by self read by * none

`
}

function dataLdif(): string {
  const entries = [
    `dn: ${BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example`,
    `dn: ou=people,${BASE}\nobjectClass: organizationalUnit\nou: people`,
    `dn: ou=services,${BASE}\nobjectClass: organizationalUnit\nou: services`,
    `dn: ou=former,${BASE}\nobjectClass: organizationalUnit\nou: former`,
    `dn: ${SERVICE_DN}\nobjectClass: person\ncn: xmpp\nsn: service\nuserPassword:: ${b64(SERVICE_PASSWORD)}`,
    ...Object.entries(USERS).map(
      ([uid, password]) =>
        `dn: uid=${uid},ou=people,${BASE}\nobjectClass: inetOrgPerson\nuid: ${uid}\ncn: ${uid}\nsn: ${uid}\nmail: ${uid}@example.org\nemployeeType: ${uid === 'carol' ? 'former' : 'staff'}\nuserPassword:: ${b64(password)}`,
    ),
    // Two entries for one uid: a filter that matches more than one entry.
    `dn: uid=twin,ou=people,${BASE}\nobjectClass: inetOrgPerson\nuid: twin\ncn: twin\nsn: twin\nuserPassword: twin-password`,
    `dn: uid=twin,ou=former,${BASE}\nobjectClass: inetOrgPerson\nuid: twin\ncn: twin\nsn: twin\nuserPassword: twin-password`,
  ]
  return `${entries.join('\n\n')}\n`
}

/** Starts a private slapd; it and its directory are gone after the test. */
export async function startSlapd(t: Context): Promise<Slapd> {
  const dir = mkdtempSync(path.join(tmpdir(), 'xmppctl-slapd-'))
  chmodSync(dir, 0o755)
  t.after(() => rmSync(dir, {recursive: true, force: true}))
  const ca = makeCa(dir, 'test-ca')
  const other = makeCa(dir, 'other-ca')
  const cert = serverCertificate(dir, ca)
  mkdirSync(path.join(dir, 'slapd.d'))
  mkdirSync(path.join(dir, 'db'))
  const config = path.join(dir, 'config.ldif')
  const data = path.join(dir, 'data.ldif')
  writeFileSync(config, configLdif(dir, {ca: ca.crt, crt: cert.crt, key: cert.key}))
  writeFileSync(data, dataLdif())
  run(SLAPADD, ['-n', '0', '-F', path.join(dir, 'slapd.d'), '-l', config])
  run(SLAPADD, ['-n', '1', '-F', path.join(dir, 'slapd.d'), '-l', data])

  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    const ldapsPort = await freePort()
    const url = `ldap://127.0.0.1:${port}`
    const ldapsUrl = `ldaps://127.0.0.1:${ldapsPort}`
    // -d 0: stays in the foreground (its pid is ours to kill) and logs nothing.
    const child = spawn(SLAPD, ['-d', '0', '-F', path.join(dir, 'slapd.d'), '-h', `${url}/ ${ldapsUrl}/`], {stdio: ['ignore', 'ignore', 'pipe']})
    const {exited, stderr, stop} = supervise(child)
    t.after(stop)
    if (await waitListening([port, ldapsPort], exited)) return {dir, port, ldapsPort, url, ldapsUrl, caFile: ca.crt, otherCaFile: other.crt, process: child, stop}
    await stop()
    if (!/bind|in use/i.test(stderr())) throw new Error(`slapd did not start: ${stderr().trim()}`)
  }

  throw new Error('slapd did not start: every port tried was taken')
}
