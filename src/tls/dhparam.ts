/**
 * Diffie-Hellman parameters for DHE cipher suites (TLS 1.2; TLS 1.3 names
 * its groups itself). The RFC 7919 groups are written instantly: their
 * primes are fixed and public, Node cannot name them (getDiffieHellman knows
 * only the RFC 2409/3526 MODP groups), so they are here, from RFC 7919
 * Appendix A. A fresh safe prime can be generated instead, which takes
 * minutes for 4096 bits.
 */
import {spawn} from 'node:child_process'
import {checkPrime} from 'node:crypto'

import {XmppctlError} from '../errors.js'
import {DerError, Tag, children, expect, integer, readOne, sequence, toBigInt} from './der.js'
import type {Finding, Severity} from './findings.js'
import {encodePem, readPemFile} from './pem.js'

/** RFC 7919 Appendix A: p = 2^b − 2^(b−64) + (⌊2^(b−130)·e⌋ + X)·2^64 − 1, generator 2, q = (p−1)/2. */
const FFDHE_HEX = {
  ffdhe2048: `
    FFFFFFFF FFFFFFFF ADF85458 A2BB4A9A AFDC5620 273D3CF1 D8B9C583 CE2D3695
    A9E13641 146433FB CC939DCE 249B3EF9 7D2FE363 630C75D8 F681B202 AEC4617A
    D3DF1ED5 D5FD6561 2433F51F 5F066ED0 85636555 3DED1AF3 B557135E 7F57C935
    984F0C70 E0E68B77 E2A689DA F3EFE872 1DF158A1 36ADE735 30ACCA4F 483A797A
    BC0AB182 B324FB61 D108A94B B2C8E3FB B96ADAB7 60D7F468 1D4F42A3 DE394DF4
    AE56EDE7 6372BB19 0B07A7C8 EE0A6D70 9E02FCE1 CDF7E2EC C03404CD 28342F61
    9172FE9C E98583FF 8E4F1232 EEF28183 C3FE3B1B 4C6FAD73 3BB5FCBC 2EC22005
    C58EF183 7D1683B2 C6F34A26 C1B2EFFA 886B4238 61285C97 FFFFFFFF FFFFFFFF`,
  ffdhe3072: `
    FFFFFFFF FFFFFFFF ADF85458 A2BB4A9A AFDC5620 273D3CF1 D8B9C583 CE2D3695
    A9E13641 146433FB CC939DCE 249B3EF9 7D2FE363 630C75D8 F681B202 AEC4617A
    D3DF1ED5 D5FD6561 2433F51F 5F066ED0 85636555 3DED1AF3 B557135E 7F57C935
    984F0C70 E0E68B77 E2A689DA F3EFE872 1DF158A1 36ADE735 30ACCA4F 483A797A
    BC0AB182 B324FB61 D108A94B B2C8E3FB B96ADAB7 60D7F468 1D4F42A3 DE394DF4
    AE56EDE7 6372BB19 0B07A7C8 EE0A6D70 9E02FCE1 CDF7E2EC C03404CD 28342F61
    9172FE9C E98583FF 8E4F1232 EEF28183 C3FE3B1B 4C6FAD73 3BB5FCBC 2EC22005
    C58EF183 7D1683B2 C6F34A26 C1B2EFFA 886B4238 611FCFDC DE355B3B 6519035B
    BC34F4DE F99C0238 61B46FC9 D6E6C907 7AD91D26 91F7F7EE 598CB0FA C186D91C
    AEFE1309 85139270 B4130C93 BC437944 F4FD4452 E2D74DD3 64F2E21E 71F54BFF
    5CAE82AB 9C9DF69E E86D2BC5 22363A0D ABC52197 9B0DEADA 1DBF9A42 D5C4484E
    0ABCD06B FA53DDEF 3C1B20EE 3FD59D7C 25E41D2B 66C62E37 FFFFFFFF FFFFFFFF`,
  ffdhe4096: `
    FFFFFFFF FFFFFFFF ADF85458 A2BB4A9A AFDC5620 273D3CF1 D8B9C583 CE2D3695
    A9E13641 146433FB CC939DCE 249B3EF9 7D2FE363 630C75D8 F681B202 AEC4617A
    D3DF1ED5 D5FD6561 2433F51F 5F066ED0 85636555 3DED1AF3 B557135E 7F57C935
    984F0C70 E0E68B77 E2A689DA F3EFE872 1DF158A1 36ADE735 30ACCA4F 483A797A
    BC0AB182 B324FB61 D108A94B B2C8E3FB B96ADAB7 60D7F468 1D4F42A3 DE394DF4
    AE56EDE7 6372BB19 0B07A7C8 EE0A6D70 9E02FCE1 CDF7E2EC C03404CD 28342F61
    9172FE9C E98583FF 8E4F1232 EEF28183 C3FE3B1B 4C6FAD73 3BB5FCBC 2EC22005
    C58EF183 7D1683B2 C6F34A26 C1B2EFFA 886B4238 611FCFDC DE355B3B 6519035B
    BC34F4DE F99C0238 61B46FC9 D6E6C907 7AD91D26 91F7F7EE 598CB0FA C186D91C
    AEFE1309 85139270 B4130C93 BC437944 F4FD4452 E2D74DD3 64F2E21E 71F54BFF
    5CAE82AB 9C9DF69E E86D2BC5 22363A0D ABC52197 9B0DEADA 1DBF9A42 D5C4484E
    0ABCD06B FA53DDEF 3C1B20EE 3FD59D7C 25E41D2B 669E1EF1 6E6F52C3 164DF4FB
    7930E9E4 E58857B6 AC7D5F42 D69F6D18 7763CF1D 55034004 87F55BA5 7E31CC7A
    7135C886 EFB4318A ED6A1E01 2D9E6832 A907600A 918130C4 6DC778F9 71AD0038
    092999A3 33CB8B7A 1A1DB93D 7140003C 2A4ECEA9 F98D0ACC 0A8291CD CEC97DCF
    8EC9B55A 7F88A46B 4DB5A851 F44182E1 C68A007E 5E655F6A FFFFFFFF FFFFFFFF`,
} as const

export type FfdheGroup = keyof typeof FFDHE_HEX
export const FFDHE_GROUPS = Object.keys(FFDHE_HEX) as FfdheGroup[]
export const DEFAULT_GROUP: FfdheGroup = 'ffdhe3072'

export function ffdhePrime(group: FfdheGroup): bigint {
  return BigInt(`0x${FFDHE_HEX[group].replace(/\s+/g, '')}`)
}

/** Which RFC 7919 group `p` (with generator 2) is, if any. */
export function knownGroup(p: bigint, g: bigint): FfdheGroup | undefined {
  return g === 2n ? FFDHE_GROUPS.find((group) => ffdhePrime(group) === p) : undefined
}

export interface DhParams {
  p: bigint
  g: bigint
  /** Present in X9.42 parameters (RFC 3279 §2.3.3); PKCS#3 has none. */
  q?: bigint
}

export function bitLength(value: bigint): number {
  return value.toString(2).length
}

/** PKCS#3 DHParameter ::= SEQUENCE { prime INTEGER, base INTEGER }, as `-----BEGIN DH PARAMETERS-----`. */
export function encodeDhParams(params: DhParams): string {
  return encodePem('DH PARAMETERS', sequence(integer(params.p), integer(params.g)))
}

/** Reads PKCS#3 (`DH PARAMETERS`) or X9.42 (`X9.42 DH PARAMETERS`: p, g, q, …) parameters from a PEM file. */
export function readDhParams(file: string): DhParams {
  const {blocks} = readPemFile(file)
  const block = blocks.find((candidate) => candidate.label === 'DH PARAMETERS' || candidate.label === 'X9.42 DH PARAMETERS')
  if (!block) {
    const found = [...new Set(blocks.map((candidate) => candidate.label))].join(', ')
    throw new XmppctlError('pem-invalid', `${file}: contains ${found} where DH parameters were expected`, {
      hint: 'give a file with "-----BEGIN DH PARAMETERS-----" ("xmppctl dhparam generate" writes one)',
    })
  }

  try {
    const fields = children(expect(readOne(block.der), Tag.sequence, 'DHParameter').content)
    if (block.label === 'DH PARAMETERS') return {p: toBigInt(fields[0]), g: toBigInt(fields[1])}
    // X9.42 DomainParameters: p, g, q, j?, validationParms?
    return {p: toBigInt(fields[0]), g: toBigInt(fields[1]), q: toBigInt(fields[2])}
  } catch (error) {
    if (!(error instanceof DerError) && !(error instanceof TypeError)) throw error
    throw new XmppctlError('pem-invalid', `${file}: the DH parameters do not parse`, {hint: 'regenerate them with "xmppctl dhparam generate"'})
  }
}

export const MIN_BITS = 512
export const MAX_BITS = 8192

/** Runs in a child process: a prime search in OpenSSL cannot be interrupted, and Node waits for its thread pool on exit. */
const PRIME_SCRIPT = `
const {generatePrimeSync} = require('node:crypto')
const p = generatePrimeSync(Number(process.argv[1]), {safe: true, bigint: true, add: 24n, rem: 23n})
process.stdout.write(p.toString(16))
`

export interface PrimeGeneration {
  result: Promise<DhParams>
  /** Stops the search at once. */
  cancel(): void
}

/**
 * A fresh safe prime p (q = (p−1)/2 prime) with p ≡ 23 (mod 24), so that 2
 * is a quadratic residue and generates the subgroup of prime order q, as in
 * the RFC 7919 groups. `onTick` is called every `interval` ms until done.
 */
export function generateSafePrimeParams(bits: number, onTick?: (elapsedMs: number) => void, interval = 1000): PrimeGeneration {
  if (!Number.isInteger(bits) || bits < MIN_BITS || bits > MAX_BITS) {
    throw new XmppctlError('usage', `--bits ${bits} is out of range`, {hint: `give a size from ${MIN_BITS} to ${MAX_BITS} bits; 2048 or more for real use`})
  }

  const started = Date.now()
  const child = spawn(process.execPath, ['-e', PRIME_SCRIPT, String(bits)], {stdio: ['ignore', 'pipe', 'pipe']})
  const timer = onTick ? setInterval(() => onTick(Date.now() - started), interval) : undefined
  const result = new Promise<DhParams>((resolve, reject) => {
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      if (timer) clearInterval(timer)
      if (code === 0 && /^[0-9a-f]+$/.test(out)) resolve({p: BigInt(`0x${out}`), g: 2n})
      else reject(new XmppctlError('dhparam-failed', `prime generation failed: ${signal ?? err.trim().split('\n').pop() ?? `exit ${code}`}`, {hint: 'try again, or use an RFC 7919 group (--group)'}))
    })
  })
  return {result, cancel: () => child.kill('SIGKILL')}
}

function isPrime(value: bigint): Promise<boolean> {
  return new Promise((resolve, reject) => checkPrime(value, (error, result) => (error ? reject(error) : resolve(result))))
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n
  let b = base % modulus
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % modulus
    b = (b * b) % modulus
  }

  return result
}

export interface DhCheck {
  file: string
  bits: number
  generator: string
  /** The RFC 7919 group these parameters are, or null. */
  group: FfdheGroup | null
  pPrime: boolean
  /** (p−1)/2 is prime: p is a safe prime. */
  safePrime: boolean
  /** The generator lies in the subgroup of order q (g^q ≡ 1 mod p). */
  generatorInSubgroup: boolean
  findings: Finding[]
}

/** `dhparam check`: size, primality of p and (p−1)/2, the generator, and whether it is a known group. */
export async function checkDhParams(file: string): Promise<DhCheck> {
  const params = readDhParams(file)
  const {p, g} = params
  const bits = bitLength(p)
  // Proving primality grows with the cube of the size: a 65,537-bit p takes minutes, and no server uses one
  // (OpenSSL refuses DH moduli over 10,000 bits). Refuse before any of that work.
  if (bits > MAX_BITS) {
    throw new XmppctlError('dh-too-large', `${file}: the prime is ${bits} bits, more than the ${MAX_BITS} this command checks`, {
      hint: `use an RFC 7919 group: "xmppctl dhparam generate --group ffdhe3072", or parameters of at most ${MAX_BITS} bits`,
    })
  }

  const group = knownGroup(p, g) ?? null
  const findings: Finding[] = []
  const add = (id: string, severity: Severity, message: string, fix: string) => findings.push({id, severity, subject: file, message, fix})
  const regenerate = 'write an RFC 7919 group: "xmppctl dhparam generate --group ffdhe3072"'
  const q = (p - 1n) / 2n
  // A known group is known to be a safe prime: no need to spend seconds proving it again.
  const [pPrime, safePrime] = group ? [true, true] : await Promise.all([isPrime(p), p % 2n === 1n ? isPrime(q) : Promise.resolve(false)])
  const generatorValid = g > 1n && g < p - 1n
  const generatorInSubgroup = generatorValid && safePrime && modPow(g, q, p) === 1n
  if (bits < 2048) add('dh-too-small', 'error', `the prime is ${bits} bits; under 2048 bits is breakable (Logjam)`, regenerate)
  if (!pPrime) add('dh-not-prime', 'error', 'p is not prime', regenerate)
  else if (!safePrime) add('dh-not-safe-prime', 'error', '(p−1)/2 is not prime, so small-subgroup attacks are possible', regenerate)
  if (params.q !== undefined && params.q !== q && pPrime) {
    add('dh-q-mismatch', 'warning', 'the q in the X9.42 parameters is not (p−1)/2', regenerate)
  }

  if (!generatorValid) add('dh-bad-generator', 'error', `the generator ${g} is not in 2 … p−2`, regenerate)
  else if (pPrime && safePrime && !generatorInSubgroup) {
    add('dh-generator-full-group', 'notice', `the generator ${g} generates the whole group, which leaks one bit of each private exponent`, regenerate)
  }

  if (group) add('dh-known-group', 'info', `these are the RFC 7919 ${group} parameters, which clients may already know`, 'nothing to do')
  else if (findings.length === 0) add('dh-custom-group', 'info', 'these are custom parameters, not an RFC 7919 group', 'fine; RFC 7919 groups are an alternative that clients can recognise')
  return {file, bits, generator: g.toString(), group, pPrime, safePrime, generatorInSubgroup, findings}
}
