/**
 * Whether a keytab can serve SASL GSSAPI for a host: the same questions for
 * the server's offer (src/auth/backends/gssapi.ts) and `test-auth gssapi`,
 * so what test-auth says is what the server does. MIT's klist reads the
 * keytab; nothing of its format is parsed here but klist's listing.
 */
import {execFile} from 'node:child_process'
import {statSync} from 'node:fs'

import {type SystemUser, allows, groupName, octal, userName} from '../../system.js'

/** Encryption types MIT krb5 still accepts by default (allow_weak_crypto false): AES and Camellia; DES and RC4 are deprecated (RFC 8429). */
export const STRONG_ENCTYPE = /^(aes|camellia)/

export interface KeytabEntry {
  kvno: number
  principal: string
  enctype: string
}

/** `klist -k -e -t` lines: "KVNO DATE TIME PRINCIPAL (ENCTYPE)". */
export function parseKeytabListing(text: string): KeytabEntry[] {
  const entries: KeytabEntry[] = []
  for (const line of text.split('\n')) {
    const match = /^\s*(\d+)\s+\S+\s+\S+\s+(\S+)\s+\(([^)]+)\)\s*$/.exec(line)
    if (match) entries.push({kvno: Number(match[1]), principal: match[2], enctype: match[3]})
  }

  return entries
}

export interface Run {
  /** -1: the program is not installed. */
  code: number | null
  stdout: string
  stderr: string
}

export function run(file: string, args: string[], options: {input?: string; env?: NodeJS.ProcessEnv; timeout?: number} = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(file, args, {env: options.env ?? process.env, timeout: options.timeout ?? 15_000, encoding: 'utf8'}, (error, stdout, stderr) => {
      const code = error ? (typeof (error as {code?: unknown}).code === 'number' ? ((error as {code: number}).code) : null) : 0
      resolve({code: error && (error as NodeJS.ErrnoException).code === 'ENOENT' ? -1 : code, stdout, stderr})
    })
    // A program that exits without reading (kinit -k, klist) closes the pipe: not an error of ours.
    child.stdin?.on('error', () => {})
    child.stdin?.end(options.input)
  })
}

export type KeytabStep = 'keytab' | 'principal' | 'enctype'

export type KeytabVerdict =
  | {ok: true; principal: string; entries: KeytabEntry[]; strong: KeytabEntry[]; ownership: string; warning?: {detail: string; fix: string}}
  | {ok: false; step: KeytabStep; detail: string; cause?: string; fix: string; ownership?: string; principal?: string; entries?: KeytabEntry[]}

function readFix(user: SystemUser, keytab: string, stats: {uid: number; gid: number; mode: number}): string {
  if ((stats.mode & 0o040) !== 0 && stats.gid !== 0) return `add user ${user.name} to group ${groupName(stats.gid)} (adduser ${user.name} ${groupName(stats.gid)}) and restart the server`
  return `chown ${user.name} ${keytab} && chmod 600 ${keytab}`
}

/**
 * The keytab for `service/host@realm`: it exists, `user` can read it, and it
 * holds that principal with an AES or Camellia key. `strict` (the server's
 * offer) also refuses a keytab every local user can read or write, or one
 * owned by another user than root or `user`: whoever holds the key can pose
 * as the server to every client (RFC 4120 §5.5.1).
 */
export async function inspectKeytab(input: {keytab: string; service: string; host: string; realm?: string; user: SystemUser; strict: boolean}): Promise<KeytabVerdict> {
  const {keytab, user} = input
  const wanted = `${input.service}/${input.host}`
  let stats
  try {
    stats = statSync(keytab)
  } catch (error) {
    return {ok: false, step: 'keytab', detail: `${keytab}: ${(error as NodeJS.ErrnoException).code}`, cause: 'the keytab does not exist', fix: `export the service key: kadmin -q "ktadd -k ${keytab} ${wanted}"`}
  }

  const ownership = `${userName(stats.uid)}:${groupName(stats.gid)} mode ${octal(stats.mode)}`
  if (!allows(user, stats, 'r')) {
    return {ok: false, step: 'keytab', detail: `${keytab} is ${ownership}: ${user.name} cannot read it`, cause: `the server, running as ${user.name}, could not accept any Kerberos login`, fix: readFix(user, keytab, stats)}
  }

  let warning: {detail: string; fix: string} | undefined
  if ((stats.mode & 0o006) !== 0) {
    warning = {detail: `${keytab} is ${ownership}: every user on this machine can ${stats.mode & 0o002 ? 'replace' : 'read'} the service key and impersonate the server`, fix: `chmod o-rw ${keytab}`}
  } else if (stats.uid !== 0 && stats.uid !== user.uid) {
    warning = {detail: `${keytab} is ${ownership}: ${userName(stats.uid)}, who is not the server's user, can read or replace the service key`, fix: `chown ${user.name} ${keytab} && chmod 600 ${keytab}`}
  }

  if (warning && input.strict) return {ok: false, step: 'keytab', detail: warning.detail, cause: 'the server does not offer GSSAPI with a keytab others can read or replace', fix: warning.fix}

  const listing = await run('klist', ['-k', '-e', '-t', keytab], {env: {...process.env, LC_ALL: 'C'}})
  if (listing.code === -1) return {ok: false, step: 'principal', detail: 'klist is not installed', fix: 'apt install krb5-user', ownership}
  const entries = parseKeytabListing(listing.stdout)
  const mine = entries.filter(({principal}) => principal.startsWith(`${wanted}@`) && (input.realm === undefined || principal === `${wanted}@${input.realm}`))
  if (mine.length === 0) {
    return {
      ok: false,
      step: 'principal',
      detail: `${keytab} holds ${[...new Set(entries.map(({principal}) => principal))].join(', ') || 'no key'}, not ${wanted}@${input.realm ?? 'REALM'}`,
      cause: 'wrong principal: clients ask for a ticket to xmpp/ the XMPP domain (RFC 6120 §6.3.9 names the service xmpp)',
      fix: `kadmin -q "addprinc -randkey ${wanted}" then kadmin -q "ktadd -k ${keytab} ${wanted}"${input.realm ? '' : ', or set gssapi_realm'}`,
      ownership,
    }
  }

  const strong = mine.filter(({enctype}) => STRONG_ENCTYPE.test(enctype))
  if (strong.length === 0) {
    return {
      ok: false,
      step: 'enctype',
      detail: `only ${mine.map(({enctype}) => enctype).join(', ')}`,
      cause: 'no encryption type MIT Kerberos accepts by default (DES and RC4 are disabled)',
      fix: `export an AES key: kadmin -q "ktadd -e aes256-cts-hmac-sha1-96:normal -k ${keytab} ${wanted}"`,
      ownership,
      principal: mine[0].principal,
      entries: mine,
    }
  }

  return {ok: true, principal: mine[0].principal, entries: mine, strong, ownership, ...(warning ? {warning} : {})}
}
