/**
 * The SCRAM key derivation (RFC 5802 §3) for SHA-1, SHA-256 (RFC 7677) and
 * SHA-512: what is stored for an account and how a password is checked against
 * it. The message exchange lives in scram-server.ts and scram-client.ts.
 */
import {createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual} from 'node:crypto'
import {promisify} from 'node:util'

import {preparePassword} from './saslprep.js'

export type ScramHash = 'sha1' | 'sha256' | 'sha512'

export const SCRAM_HASHES: readonly ScramHash[] = ['sha1', 'sha256', 'sha512']

/**
 * 16 random bytes (128 bits), the minimum NIST SP 800-132 §5.1 asks for: the
 * salt only has to be unique per account and hash so that precomputed tables
 * and equal passwords across accounts do not line up; more bytes buy nothing.
 */
export const SCRAM_SALT_BYTES = 16

/** What the store keeps per account and hash (RFC 5802 §3); never the password. */
export interface ScramCredentials {
  hash: ScramHash
  salt: Buffer
  iterations: number
  storedKey: Buffer
  serverKey: Buffer
}

const MECHANISM_HASH_NAMES: Record<ScramHash, string> = {sha1: 'SHA-1', sha256: 'SHA-256', sha512: 'SHA-512'}

const DIGEST_BYTES: Record<ScramHash, number> = {sha1: 20, sha256: 32, sha512: 64}

export function isScramHash(value: string): value is ScramHash {
  return (SCRAM_HASHES as readonly string[]).includes(value)
}

/** `scramMechanismName('sha256') === 'SCRAM-SHA-256'`, with `-PLUS` for channel binding (RFC 5802 §4). */
export function scramMechanismName(hash: ScramHash, plus = false): string {
  return `SCRAM-${MECHANISM_HASH_NAMES[hash]}${plus ? '-PLUS' : ''}`
}

/** The hash and channel-binding variant of a SASL mechanism name, or undefined if it is not a SCRAM we support. */
export function parseScramMechanismName(name: string): {hash: ScramHash; plus: boolean} | undefined {
  // SASL mechanism names are upper case (RFC 4422 §3.1); compare as given.
  const plus = name.endsWith('-PLUS')
  const base = plus ? name.slice(0, -'-PLUS'.length) : name
  const hash = SCRAM_HASHES.find((candidate) => `SCRAM-${MECHANISM_HASH_NAMES[candidate]}` === base)
  return hash === undefined ? undefined : {hash, plus}
}

/** Output size of the hash in bytes: the length of every key and signature. */
export function scramDigestBytes(hash: ScramHash): number {
  return DIGEST_BYTES[hash]
}

/** Throws RangeError unless `iterations` is an integer ≥ 1 (RFC 5802 §5.1 `i`); minimums are the caller's policy. */
export function assertValidIterations(iterations: number): void {
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new RangeError(`the SCRAM iteration count must be an integer of at least 1, got ${iterations}`)
  }
}

const pbkdf2Async = promisify(pbkdf2)

/**
 * SaltedPassword := Hi(Normalize(password), salt, i) (RFC 5802 §3); Hi is
 * PBKDF2 with HMAC and one block of output. Runs on the libuv threadpool so a
 * login does not stall the event loop. `preparedPassword` is already SASLprep'd.
 */
export async function saltedPassword(
  hash: ScramHash,
  preparedPassword: string,
  salt: Buffer,
  iterations: number,
): Promise<Buffer> {
  assertValidIterations(iterations)
  return pbkdf2Async(Buffer.from(preparedPassword, 'utf8'), salt, iterations, DIGEST_BYTES[hash], hash)
}

/** ClientKey := HMAC(SaltedPassword, "Client Key") (RFC 5802 §3). */
export function clientKey(hash: ScramHash, salted: Buffer): Buffer {
  return hmac(hash, salted, 'Client Key')
}

/** StoredKey := H(ClientKey) (RFC 5802 §3). */
export function storedKey(hash: ScramHash, key: Buffer): Buffer {
  return createHash(hash).update(key).digest()
}

/** ServerKey := HMAC(SaltedPassword, "Server Key") (RFC 5802 §3). */
export function serverKey(hash: ScramHash, salted: Buffer): Buffer {
  return hmac(hash, salted, 'Server Key')
}

/** ClientSignature := HMAC(StoredKey, AuthMessage) (RFC 5802 §3). */
export function clientSignature(hash: ScramHash, stored: Buffer, authMessage: Buffer): Buffer {
  return hmac(hash, stored, authMessage)
}

/** ServerSignature := HMAC(ServerKey, AuthMessage) (RFC 5802 §3). */
export function serverSignature(hash: ScramHash, server: Buffer, authMessage: Buffer): Buffer {
  return hmac(hash, server, authMessage)
}

/** ClientProof := ClientKey XOR ClientSignature (RFC 5802 §3). */
export function clientProof(key: Buffer, signature: Buffer): Buffer {
  return xor(key, signature)
}

/**
 * The server's check (RFC 5802 §3): recover ClientKey as ClientProof XOR
 * ClientSignature and compare H(ClientKey) with StoredKey in constant time.
 */
export function verifyClientProof(hash: ScramHash, stored: Buffer, authMessage: Buffer, proof: Buffer): boolean {
  if (proof.length !== DIGEST_BYTES[hash]) return false
  const recoveredClientKey = xor(proof, clientSignature(hash, stored, authMessage))
  return constantTimeEqual(storedKey(hash, recoveredClientKey), stored)
}

/** Equal-length buffers compared without early exit; lengths are not secret. */
export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * The credentials to store for `password`: SASLprep'd first (throws
 * PasswordError if refused), with a fresh random salt unless one is given
 * (tests, imports that keep a salt).
 */
export async function deriveScramCredentials(
  password: string,
  hash: ScramHash,
  options: {iterations: number; salt?: Buffer},
): Promise<ScramCredentials> {
  assertValidIterations(options.iterations)
  const salt = options.salt ?? randomBytes(SCRAM_SALT_BYTES)
  const salted = await saltedPassword(hash, preparePassword(password), salt, options.iterations)
  return {
    hash,
    salt,
    iterations: options.iterations,
    storedKey: storedKey(hash, clientKey(hash, salted)),
    serverKey: serverKey(hash, salted),
  }
}

/**
 * Whether `password` matches stored credentials (PLAIN logins, `user check`).
 * A password SASLprep refuses cannot have produced any stored credentials, so
 * it is simply false rather than an error.
 */
export async function verifyScramPassword(password: string, credentials: ScramCredentials): Promise<boolean> {
  let prepared: string
  try {
    prepared = preparePassword(password)
  } catch {
    return false
  }

  const {hash} = credentials
  const salted = await saltedPassword(hash, prepared, credentials.salt, credentials.iterations)
  // Both comparisons always run, so the time does not say which key differed.
  const storedMatches = constantTimeEqual(storedKey(hash, clientKey(hash, salted)), credentials.storedKey)
  const serverMatches = constantTimeEqual(serverKey(hash, salted), credentials.serverKey)
  return storedMatches && serverMatches
}

function hmac(hash: ScramHash, key: Buffer, data: Buffer | string): Buffer {
  return createHmac(hash, key).update(data).digest()
}

function xor(a: Buffer, b: Buffer): Buffer {
  const result = Buffer.alloc(a.length)
  for (let index = 0; index < a.length; index++) result[index] = a[index] ^ b[index]
  return result
}
