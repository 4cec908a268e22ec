/**
 * Account operations shared by the `user` commands and, later, the server and
 * importers: JID resolution against the configured hosts, credential
 * derivation per the host's settings, and the store writes.
 */
import {createHash, timingSafeEqual} from 'node:crypto'

import type {Configuration, HostSettings} from '../config/index.js'
import {AccountAbsentError, JidError} from '../errors.js'
import {formatJid, parseBareJid} from '../jid/index.js'
import {preparePassword} from '../sasl/saslprep.js'
import {type ScramCredentials, type ScramHash, deriveScramCredentials, verifyScramPassword} from '../sasl/scram.js'
import type {AccountSecrets, AccountState, AccountStore, AccountSummary, StoredAccount} from '../store/index.js'

export interface AccountContext {
  config: Configuration
  store: AccountStore
}

/** A JID resolved against the configuration: its host is one we serve. */
export interface AccountRef {
  jid: string
  host: string
  username: string
}

export interface AccountInfo {
  jid: string
  state: AccountState
  disabledReason?: string
  createdAt: string
  hashes: ScramHash[]
  iterations?: number
  plaintext: boolean
}

export interface PasswordChange {
  jid: string
  hashes: ScramHash[]
  iterations?: number
  plaintext: boolean
}

export interface PasswordCheck {
  jid: string
  valid: boolean
  /** Why `valid` is false; absent when it is true. */
  reason?: 'wrong-password' | 'absent'
  state?: AccountState
}

/** Strongest first: the hash a password check uses when several are stored. */
const HASH_STRENGTH: readonly ScramHash[] = ['sha512', 'sha256', 'sha1']

/** Parses a bare JID and checks that its host is configured. */
export function resolveAccount(config: Configuration, input: string): AccountRef {
  const {local, domain} = parseBareJid(input)
  if (!local) {
    throw new JidError(`invalid JID "${input}": it has no localpart, so it names a server, not an account`, `write user@${domain}`)
  }

  const host = config.requireHost(domain)
  return {jid: formatJid({local, domain: host}), host, username: local}
}

/**
 * The secrets to store for `password` under the host's settings. The
 * iteration count never goes down: an account keeps the higher of its
 * current count and the configured one (DESIGN.md).
 */
export async function deriveSecrets(settings: HostSettings, password: string, currentIterations = 0): Promise<AccountSecrets> {
  preparePassword(password)
  if (settings.auth_password_format === 'plain') return {credentials: [], plaintext: password}
  const iterations = Math.max(settings.auth_scram_iterations, currentIterations)
  const credentials = await Promise.all(settings.auth_scram_hash.map((hash) => deriveScramCredentials(password, hash, {iterations})))
  return {credentials, plaintext: undefined}
}

function describeSecrets(jid: string, secrets: AccountSecrets): PasswordChange {
  const iterations = maxIterations(secrets.credentials)
  return {
    jid,
    hashes: secrets.credentials.map((credential) => credential.hash),
    ...(iterations === undefined ? {} : {iterations}),
    plaintext: secrets.plaintext !== undefined,
  }
}

function maxIterations(credentials: readonly ScramCredentials[]): number | undefined {
  return credentials.length === 0 ? undefined : Math.max(...credentials.map((credential) => credential.iterations))
}

export async function addUser({config, store}: AccountContext, input: string, password: string): Promise<PasswordChange> {
  const account = resolveAccount(config, input)
  const secrets = await deriveSecrets(config.forHost(account.host), password)
  await store.createAccount(account.host, account.username, secrets)
  return describeSecrets(account.jid, secrets)
}

export async function changePassword({config, store}: AccountContext, input: string, password: string): Promise<PasswordChange> {
  const account = resolveAccount(config, input)
  return replacePassword(store, config.forHost(account.host), account, password)
}

/**
 * Replaces every stored secret of an existing account with ones derived
 * from `password` under its host's settings: `user passwd` and the
 * server's in-band password change (XEP-0077 §3.3) both come here.
 */
export async function replacePassword(store: AccountStore, settings: HostSettings, account: AccountRef, password: string): Promise<PasswordChange> {
  const existing = await store.getAccount(account.host, account.username)
  if (!existing) throw new AccountAbsentError(account.jid)
  const secrets = await deriveSecrets(settings, password, maxIterations(existing.credentials))
  if (!(await store.replaceSecrets(account.host, account.username, secrets))) throw new AccountAbsentError(account.jid)
  return describeSecrets(account.jid, secrets)
}

export async function deleteUser({config, store}: AccountContext, input: string): Promise<{jid: string; deleted: true}> {
  const account = resolveAccount(config, input)
  if (!(await store.deleteAccount(account.host, account.username))) throw new AccountAbsentError(account.jid)
  return {jid: account.jid, deleted: true}
}

/** Compares two passwords after SASLprep, in time independent of where they differ. */
function plaintextMatches(stored: string, candidate: string): boolean {
  let storedPrepared: string
  try {
    storedPrepared = preparePassword(stored)
  } catch {
    // A stored password SASLprep refuses (imported from elsewhere) is compared as stored.
    storedPrepared = stored
  }

  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest()
  return timingSafeEqual(digest(storedPrepared), digest(candidate))
}

/** Verifies a password against the stored credentials (the strongest hash) or plaintext. */
export async function verifyAccountPassword(account: StoredAccount, password: string): Promise<boolean> {
  const prepared = preparePassword(password)
  const credential = HASH_STRENGTH.map((hash) => account.credentials.find((candidate) => candidate.hash === hash)).find(Boolean)
  if (credential) return verifyScramPassword(password, credential)
  if (account.plaintext !== undefined) return plaintextMatches(account.plaintext, prepared)
  return false
}

export async function checkPassword({config, store}: AccountContext, input: string, password: string): Promise<PasswordCheck> {
  const account = resolveAccount(config, input)
  const stored = await store.getAccount(account.host, account.username)
  if (!stored) {
    preparePassword(password)
    return {jid: account.jid, valid: false, reason: 'absent'}
  }

  const valid = await verifyAccountPassword(stored, password)
  return {jid: account.jid, valid, ...(valid ? {} : {reason: 'wrong-password' as const}), state: stored.state}
}

export async function userExists({config, store}: AccountContext, input: string): Promise<{jid: string; exists: boolean}> {
  const account = resolveAccount(config, input)
  return {jid: account.jid, exists: await store.accountExists(account.host, account.username)}
}

function toInfo(summary: AccountSummary): AccountInfo {
  return {
    jid: formatJid({local: summary.username, domain: summary.host}),
    state: summary.state,
    ...(summary.disabledReason === undefined ? {} : {disabledReason: summary.disabledReason}),
    createdAt: summary.createdAt.toISOString(),
    hashes: summary.hashes,
    ...(summary.iterations === undefined ? {} : {iterations: summary.iterations}),
    plaintext: summary.hasPlaintext,
  }
}

export async function userInfo({config, store}: AccountContext, input: string): Promise<AccountInfo> {
  const account = resolveAccount(config, input)
  const stored = await store.getAccount(account.host, account.username)
  if (!stored) throw new AccountAbsentError(account.jid)
  return toInfo({
    ...stored,
    hashes: stored.credentials.map((credential) => credential.hash),
    iterations: maxIterations(stored.credentials),
    hasPlaintext: stored.plaintext !== undefined,
  })
}

/** Every account (of one host, when given), streamed in store order. */
export async function* listUsers({config, store}: AccountContext, host?: string): AsyncIterable<AccountInfo> {
  const only = host === undefined ? undefined : config.requireHost(host)
  for await (const summary of store.listAccounts(only)) yield toInfo(summary)
}

export async function setAccountState(
  {config, store}: AccountContext,
  input: string,
  state: AccountState,
  reason?: string,
): Promise<{jid: string; state: AccountState; reason?: string}> {
  const account = resolveAccount(config, input)
  if (!(await store.setState(account.host, account.username, state, reason))) {
    throw new AccountAbsentError(account.jid)
  }

  return {jid: account.jid, state, ...(state === 'disabled' && reason ? {reason} : {})}
}
