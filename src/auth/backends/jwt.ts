/**
 * The jwt backend: the password of a PLAIN login is a JWT, signed by a key in
 * `jwt_key` (a PEM key or certificate, a JWK, or a JWK Set picked by `kid`).
 * Allowed algorithms are pinned from the key's type, never from the token, so
 * neither `none` nor an HMAC-with-the-public-key confusion can get through.
 * Each check is a named step, so `test-auth jwt` can say which one failed.
 */
import {type KeyObject, createPublicKey, createSecretKey} from 'node:crypto'
import {readFile} from 'node:fs/promises'

import {UnavailableError} from '../../errors.js'
import {parseBareJid} from '../../jid/index.js'
import type {AuthOutcome} from '../../sasl/session.js'
import type {AuthBackend, BackendCapabilities} from '../types.js'
import {unsupported} from './unsupported.js'

export interface JwtOptions {
  host: string
  keyFile: string | undefined
  jidField: string
  /** Seconds of clock difference tolerated on `exp` and `nbf`. */
  clockSkew: number
  now?: () => number
}

export interface JwtKey {
  kid?: string
  /** "RSA", "RSA-PSS", "EC P-256", "Ed25519", "oct (HMAC, 32 bytes)". */
  type: string
  algorithms: string[]
  key: KeyObject
}

export type JwtFailureStep = 'key' | 'malformed' | 'kid' | 'algorithm' | 'signature' | 'expired' | 'not-yet-valid' | 'jid-missing' | 'jid-mismatch'

export type JwtVerdict =
  | {ok: true; alg: string; kid?: string; jid: string; claims: Record<string, unknown>}
  | {ok: false; step: JwtFailureStep; message: string; alg?: string; kid?: string; clockDifference?: number}

const HMAC_MINIMUM: Record<string, number> = {HS256: 32, HS384: 48, HS512: 64}

/** The algorithms a key may verify, from its type alone (RFC 7518 §3.1). */
function keyAlgorithms(key: KeyObject): {type: string; algorithms: string[]} {
  if (key.type === 'secret') {
    const bytes = key.symmetricKeySize ?? 0
    const algorithms = Object.entries(HMAC_MINIMUM).filter(([, minimum]) => bytes >= minimum).map(([alg]) => alg)
    return {type: `oct (HMAC, ${bytes} bytes)`, algorithms}
  }

  switch (key.asymmetricKeyType) {
    case 'rsa': {
      return {type: 'RSA', algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']}
    }

    case 'rsa-pss': {
      return {type: 'RSA-PSS', algorithms: ['PS256', 'PS384', 'PS512']}
    }

    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve
      const byCurve: Record<string, [string, string]> = {prime256v1: ['P-256', 'ES256'], secp384r1: ['P-384', 'ES384'], secp521r1: ['P-521', 'ES512']}
      const [name, alg] = byCurve[curve ?? ''] ?? [curve ?? 'unknown curve', '']
      return {type: `EC ${name}`, algorithms: alg ? [alg] : []}
    }

    case 'ed25519': {
      return {type: 'Ed25519', algorithms: ['EdDSA', 'Ed25519']}
    }

    default: {
      return {type: key.asymmetricKeyType ?? 'unknown', algorithms: []}
    }
  }
}

function fromJwk(jwk: Record<string, unknown>): JwtKey {
  let key: KeyObject
  if (jwk.kty === 'oct') {
    if (typeof jwk.k !== 'string') throw new Error('an oct JWK needs "k"')
    key = createSecretKey(Buffer.from(jwk.k, 'base64url'))
  } else {
    // Only the public part is kept, whatever the file holds.
    key = createPublicKey({key: jwk as never, format: 'jwk'})
  }

  const {type, algorithms} = keyAlgorithms(key)
  // A JWK naming its algorithm narrows the list to that one (RFC 7517 §4.4).
  const pinned = typeof jwk.alg === 'string' ? algorithms.filter((alg) => alg === jwk.alg) : algorithms
  if (typeof jwk.alg === 'string' && pinned.length === 0) throw new Error(`the JWK says alg ${jwk.alg}, which a ${type} key cannot verify`)
  return {kid: typeof jwk.kid === 'string' ? jwk.kid : undefined, type, algorithms: pinned, key}
}

/** Parses the contents of `jwt_key`: PEM (public key, private key or certificate), JWK, or JWK Set. */
export function parseJwtKeys(text: string): JwtKey[] {
  const trimmed = text.trim()
  if (trimmed.startsWith('-----BEGIN')) {
    const key = createPublicKey(trimmed)
    return [{...keyAlgorithms(key), key}]
  }

  let json: unknown
  try {
    json = JSON.parse(trimmed)
  } catch {
    throw new Error('it is neither PEM nor JSON (a JWK or a JWK Set)')
  }

  if (json && typeof json === 'object' && Array.isArray((json as {keys?: unknown}).keys)) {
    const keys = (json as {keys: Array<Record<string, unknown>>}).keys.map((jwk) => fromJwk(jwk))
    if (keys.length === 0) throw new Error('the JWK Set has no keys')
    return keys
  }

  if (json && typeof json === 'object' && typeof (json as {kty?: unknown}).kty === 'string') return [fromJwk(json as Record<string, unknown>)]
  throw new Error('the JSON is neither a JWK (no "kty") nor a JWK Set (no "keys")')
}

export class JwtBackend implements AuthBackend {
  readonly method = 'jwt' as const
  readonly cacheable = false
  readonly options: JwtOptions
  private keys: Promise<JwtKey[]> | undefined

  constructor(options: JwtOptions) {
    this.options = options
  }

  /** The keys of `jwt_key`; throws UnavailableError naming the problem. */
  async loadKeys(): Promise<JwtKey[]> {
    const {keyFile} = this.options
    if (!keyFile) throw new UnavailableError('jwt_key is not set', 'set jwt_key to a file with a PEM key, a JWK or a JWK Set')
    this.keys ??= readFile(keyFile, 'utf8').then(
      (text) => {
        try {
          return parseJwtKeys(text)
        } catch (error) {
          throw new UnavailableError(`jwt_key ${keyFile} cannot be used: ${(error as Error).message}`, 'put a PEM public key, a JWK or a JWK Set in the file')
        }
      },
      (error: Error) => {
        throw new UnavailableError(`jwt_key ${keyFile} cannot be read: ${error.message}`, 'check the path and that this user may read the file')
      },
    )
    this.keys.catch(() => (this.keys = undefined))
    return this.keys
  }

  async capabilities(): Promise<BackendCapabilities> {
    try {
      await this.loadKeys()
      return {plain: true, scram: [], anonymous: false}
    } catch (error) {
      return {plain: false, scram: [], anonymous: false, unavailable: (error as Error).message}
    }
  }

  /** Every check on `token` for `username`, stopping at the first that fails. */
  async verify(username: string, token: string): Promise<JwtVerdict> {
    const {compactVerify, decodeProtectedHeader, errors} = await import('jose')
    const keys = await this.loadKeys()
    let header: {alg?: unknown; kid?: unknown}
    let claims: Record<string, unknown>
    try {
      if (token.split('.').length !== 3) throw new Error('a JWT has three base64url parts separated by "."')
      header = decodeProtectedHeader(token)
      claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as Record<string, unknown>
      if (!claims || typeof claims !== 'object' || Array.isArray(claims)) throw new Error('the payload is not a JSON object')
    } catch (error) {
      return {ok: false, step: 'malformed', message: `the token is malformed: ${(error as Error).message}`}
    }

    const alg = typeof header.alg === 'string' ? header.alg : undefined
    const kid = typeof header.kid === 'string' ? header.kid : undefined
    let candidates = keys
    if (kid !== undefined && keys.some((key) => key.kid !== undefined)) {
      candidates = keys.filter((key) => key.kid === kid)
      if (candidates.length === 0) {
        return {ok: false, step: 'kid', kid, alg, message: `no key in jwt_key has kid "${kid}" (known: ${keys.map((key) => key.kid ?? '(none)').join(', ')})`}
      }
    } else if (keys.length > 1 && kid === undefined) {
      candidates = keys
    }

    const allowed = [...new Set(candidates.flatMap((key) => key.algorithms))]
    if (alg === undefined || alg === 'none' || !allowed.includes(alg)) {
      return {
        ok: false,
        step: 'algorithm',
        alg,
        kid,
        message: `algorithm ${alg ?? '(missing)'} is not allowed: the ${candidates.map((key) => key.type).join('/')} key allows only ${allowed.join(', ') || 'nothing'}`,
      }
    }

    let verified = false
    for (const candidate of candidates.filter((key) => key.algorithms.includes(alg))) {
      try {
        await compactVerify(token, candidate.key, {algorithms: [alg]})
        verified = true
        break
      } catch (error) {
        if (!(error instanceof errors.JWSSignatureVerificationFailed)) {
          return {ok: false, step: 'malformed', alg, kid, message: `the token cannot be verified: ${(error as Error).message}`}
        }
      }
    }

    if (!verified) return {ok: false, step: 'signature', alg, kid, message: `the signature does not verify with the ${alg} key${kid ? ` "${kid}"` : ''}`}

    const now = Math.floor((this.options.now ?? Date.now)() / 1000)
    const skew = this.options.clockSkew
    if (claims.exp !== undefined) {
      if (typeof claims.exp !== 'number') return {ok: false, step: 'malformed', alg, kid, message: 'the "exp" claim is not a number'}
      if (now - skew >= claims.exp) {
        return {ok: false, step: 'expired', alg, kid, clockDifference: now - claims.exp, message: `the token expired ${now - claims.exp} s ago (exp ${new Date(claims.exp * 1000).toISOString()}, clock skew allowed ${skew} s)`}
      }
    }

    if (claims.nbf !== undefined) {
      if (typeof claims.nbf !== 'number') return {ok: false, step: 'malformed', alg, kid, message: 'the "nbf" claim is not a number'}
      if (claims.nbf > now + skew) {
        return {
          ok: false,
          step: 'not-yet-valid',
          alg,
          kid,
          clockDifference: claims.nbf - now,
          message: `the token is not valid for another ${claims.nbf - now} s (nbf ${new Date(claims.nbf * 1000).toISOString()}, this machine's clock says ${new Date(now * 1000).toISOString()}, skew allowed ${skew} s): check both clocks`,
        }
      }
    }

    const field = this.options.jidField
    const value = claims[field]
    if (typeof value !== 'string' || value === '') return {ok: false, step: 'jid-missing', alg, kid, message: `the token has no "${field}" claim (jwt_jid_field)`}
    const expected = `${username}@${this.options.host}`
    let actual: string
    try {
      const bare = parseBareJid(value.split('/')[0])
      actual = `${bare.local}@${bare.domain}`
    } catch {
      return {ok: false, step: 'jid-mismatch', alg, kid, message: `the "${field}" claim ${JSON.stringify(value)} is not a JID`}
    }

    if (actual !== expected) return {ok: false, step: 'jid-mismatch', alg, kid, message: `the token is for ${actual}, not ${expected}`}
    return {ok: true, alg, kid, jid: actual, claims}
  }

  async checkPassword(username: string, password: string): Promise<AuthOutcome> {
    let verdict: JwtVerdict
    try {
      verdict = await this.verify(username, password)
    } catch (error) {
      if (error instanceof UnavailableError) return {result: 'unavailable', reason: error.message}
      throw error
    }

    return verdict.ok ? {result: 'accepted'} : {result: 'rejected', reason: `JWT ${verdict.step}: ${verdict.message}`}
  }

  async getScramCredentials(): Promise<never> {
    throw unsupported(this.method, 'serve SCRAM: a token is checked as a PLAIN password')
  }

  async userExists(): Promise<never> {
    throw unsupported(this.method, 'tell whether a user exists: any JID a valid token names may log in')
  }

  async setPassword(): Promise<never> {
    throw unsupported(this.method, 'set passwords', 'issue a new token instead')
  }

  async createUser(): Promise<never> {
    throw unsupported(this.method, 'create accounts', 'issue a token for the JID instead')
  }

  async removeUser(): Promise<never> {
    throw unsupported(this.method, 'remove accounts')
  }

  async close(): Promise<void> {}
}
