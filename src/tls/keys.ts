import {type KeyObject, webcrypto} from 'node:crypto'

import {UsageError} from '../errors.js'
import {encodePem} from './pem.js'

/** The key types `cert generate` and `cert request` offer. */
export const KEY_SPECS = ['ec:p256', 'ec:p384', 'rsa:2048', 'rsa:3072', 'rsa:4096', 'ed25519'] as const
export type KeySpec = (typeof KEY_SPECS)[number]
export const DEFAULT_KEY_SPEC: KeySpec = 'ec:p256'

export function parseKeySpec(value: string): KeySpec {
  const spec = value.toLowerCase().replace(/^ecdsa:|^ec:/, 'ec:').replace(/^ec:p-/, 'ec:p')
  const normalized = spec === 'ec' || spec === 'ecdsa' ? 'ec:p256' : spec === 'rsa' ? 'rsa:3072' : spec
  if ((KEY_SPECS as readonly string[]).includes(normalized)) return normalized as KeySpec
  throw new UsageError(`unknown key type "${value}"`, `use one of ${KEY_SPECS.join(', ')}`)
}

interface Algorithms {
  generate: RsaHashedKeyGenParams | EcKeyGenParams | Algorithm
  sign: Algorithm | EcdsaParams
}

function algorithms(spec: KeySpec): Algorithms {
  if (spec.startsWith('rsa:')) {
    const modulusLength = Number(spec.slice(4))
    return {
      generate: {name: 'RSASSA-PKCS1-v1_5', modulusLength, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256'},
      sign: {name: 'RSASSA-PKCS1-v1_5'},
    }
  }

  if (spec === 'ec:p384') return {generate: {name: 'ECDSA', namedCurve: 'P-384'}, sign: {name: 'ECDSA', hash: 'SHA-384'} as EcdsaParams}
  if (spec === 'ed25519') return {generate: {name: 'Ed25519'}, sign: {name: 'Ed25519'}}
  return {generate: {name: 'ECDSA', namedCurve: 'P-256'}, sign: {name: 'ECDSA', hash: 'SHA-256'} as EcdsaParams}
}

export interface GeneratedKey {
  spec: KeySpec
  keys: CryptoKeyPair
  signingAlgorithm: Algorithm | EcdsaParams
  /** PKCS#8 `PRIVATE KEY` PEM. */
  pem: string
}

export async function generateKey(spec: KeySpec): Promise<GeneratedKey> {
  const {generate, sign} = algorithms(spec)
  const keys = (await webcrypto.subtle.generateKey(generate, true, ['sign', 'verify'])) as CryptoKeyPair
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)
  return {spec, keys, signingAlgorithm: sign, pem: encodePem('PRIVATE KEY', new Uint8Array(pkcs8))}
}

/** Key type and size as reported by `cert check`. */
export interface KeyDescription {
  /** `rsa`, `ec`, `ed25519`, `rsa-pss`, `dsa`, … */
  type: string
  /** Modulus or curve size in bits; undefined for Edwards curves, whose size is fixed. */
  bits: number | undefined
  /** `rsa:3072`, `ec:prime256v1`, `ed25519` */
  label: string
  /** RSA ≥ 2048 bits, EC ≥ 256 bits, Ed25519/Ed448: the floors of NIST SP 800-57 for use beyond 2030 (RSA 2048 is the practical floor). */
  strong: boolean
}

const CURVE_BITS: Record<string, number> = {prime256v1: 256, secp384r1: 384, secp521r1: 521, secp224r1: 224, prime192v1: 192, secp256k1: 256}

export function describeKey(key: KeyObject): KeyDescription {
  const type = key.asymmetricKeyType ?? 'unknown'
  const details = key.asymmetricKeyDetails ?? {}
  if (type === 'rsa' || type === 'rsa-pss' || type === 'dsa') {
    const bits = details.modulusLength
    return {type, bits, label: `${type}:${bits}`, strong: type !== 'dsa' && (bits ?? 0) >= 2048}
  }

  if (type === 'ec') {
    const curve = details.namedCurve ?? 'unknown'
    const bits = CURVE_BITS[curve]
    return {type, bits, label: `ec:${curve}`, strong: (bits ?? 0) >= 256 && curve !== 'secp256k1'}
  }

  return {type, bits: undefined, label: type, strong: type === 'ed25519' || type === 'ed448'}
}
