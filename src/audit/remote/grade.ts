/**
 * The IM Observatory's grade (xmpp.net, after SSL Labs), so results compare:
 *   score = 0.3·protocol + 0.3·key exchange + 0.4·cipher
 * protocol: SSLv2 20, SSLv3 80, TLS 1.0 90, TLS 1.1 95, TLS 1.2/1.3 100,
 *   (lowest accepted + highest accepted) / 2;
 * key exchange: by RSA/DH bits (<512 20, <1024 40, <2048 80, <4096 90,
 *   else 100; EC 100), the weakest used;
 * cipher: by bits (<128 20, <256 80, ≥256 100), (strongest + weakest) / 2;
 * A ≥ 80, B ≥ 65, C ≥ 50, D ≥ 35, E ≥ 20, else F; then the caps below.
 */
import type {Protocol} from '../handshake.js'

export const GRADES = ['A', 'A-', 'B', 'C', 'D', 'E', 'F'] as const
export type Grade = (typeof GRADES)[number]

export const PROTOCOL_POINTS: Record<Protocol, number> = {SSLv2: 20, SSLv3: 80, TLSv1: 90, 'TLSv1.1': 95, 'TLSv1.2': 100, 'TLSv1.3': 100}

export function keyPoints(key: {type: 'RSA' | 'DH' | 'DSA' | 'EC'; bits: number}): number {
  if (key.type === 'EC') return 100
  if (key.bits < 512) return 20
  if (key.bits < 1024) return 40
  if (key.bits < 2048) return 80
  if (key.bits < 4096) return 90
  return 100
}

export function cipherPoints(bits: number): number {
  if (bits < 128) return 20
  if (bits < 256) return 80
  return 100
}

export function scoreGrade(score: number): Grade {
  if (score >= 80) return 'A'
  if (score >= 65) return 'B'
  if (score >= 50) return 'C'
  if (score >= 35) return 'D'
  if (score >= 20) return 'E'
  return 'F'
}

export interface GradeInput {
  /** Versions the server accepted. */
  protocols: Protocol[]
  /** The keys used for key exchange and authentication: the certificate's, and each DHE group seen. */
  keys: Array<{type: 'RSA' | 'DH' | 'DSA' | 'EC'; bits: number; what: string}>
  /** Every accepted suite. */
  suites: Array<{name: string; bits: number; forwardSecrecy: boolean; aead: boolean}>
  certificate: {expired: boolean; weakSignature: string | null; trusted: boolean; trustProblem?: string; identityMatches: boolean; domain: string}
}

export interface Cap {
  /** The best grade allowed; `T` stands apart: trust, not strength. */
  cap: Grade | 'T'
  reason: string
  /** Whether it lowered the grade (a cap above the score's grade changes nothing). */
  applied: boolean
}

export interface GradeResult {
  grade: Grade | 'T'
  /** The grade when trust is ignored: what `T` hides. */
  gradeIgnoringTrust: Grade
  score: number
  protocolScore: number
  keyExchangeScore: number
  cipherScore: number
  caps: Cap[]
}

const worse = (a: Grade, b: Grade): Grade => (GRADES.indexOf(a) >= GRADES.indexOf(b) ? a : b)

export function grade(input: GradeInput): GradeResult {
  const protocolValues = input.protocols.map((protocol) => PROTOCOL_POINTS[protocol])
  const protocolScore = (Math.min(...protocolValues) + Math.max(...protocolValues)) / 2
  const keyExchangeScore = Math.min(...input.keys.map(keyPoints))
  const bits = input.suites.map((suite) => suite.bits)
  const cipherScore = (cipherPoints(Math.max(...bits)) + cipherPoints(Math.min(...bits))) / 2
  const score = Math.round((0.3 * protocolScore + 0.3 * keyExchangeScore + 0.4 * cipherScore) * 10) / 10
  const base = scoreGrade(score)
  const caps: Array<Omit<Cap, 'applied'>> = []
  const cap = (value: Grade | 'T', reason: string) => caps.push({cap: value, reason})

  for (const old of ['SSLv2', 'SSLv3'] as const) if (input.protocols.includes(old)) cap('F', `${old} is accepted`)
  if (input.certificate.expired) cap('F', 'the certificate has expired')
  for (const key of input.keys) if (key.type !== 'EC' && key.bits < 1024) cap('F', `${key.what} is ${key.type} of ${key.bits} bits, under 1024`)
  if (input.certificate.weakSignature) cap('F', `the certificate chain is signed with ${input.certificate.weakSignature}`)
  if (!input.protocols.includes('TLSv1.2') && !input.protocols.includes('TLSv1.3')) cap('C', 'neither TLS 1.2 nor TLS 1.3 is accepted')
  for (const old of ['TLSv1', 'TLSv1.1'] as const) if (input.protocols.includes(old)) cap('B', `${old === 'TLSv1' ? 'TLS 1.0' : 'TLS 1.1'} is accepted`)
  for (const key of input.keys) {
    if (key.type === 'RSA' && key.bits >= 1024 && key.bits < 2048) cap('B', `${key.what} is RSA of ${key.bits} bits, under 2048`)
    if (key.type === 'DH' && key.bits >= 1024 && key.bits < 2048) cap('B', `${key.what} is DHE of ${key.bits} bits, under 2048`)
  }

  const noFs = [...new Set(input.suites.filter((suite) => !suite.forwardSecrecy).map((suite) => suite.name))]
  const noAead = [...new Set(input.suites.filter((suite) => !suite.aead).map((suite) => suite.name))]
  if (noFs.length > 0) cap('A-', `not every suite has forward secrecy (${noFs.join(', ')})`)
  if (noAead.length > 0) cap('A-', `not every suite has authenticated encryption (${noAead.join(', ')})`)
  if (!input.certificate.trusted) cap('T', `the certificate chain is not trusted${input.certificate.trustProblem ? `: ${input.certificate.trustProblem}` : ''}`)
  if (!input.certificate.identityMatches) cap('T', `the certificate does not name ${input.certificate.domain}`)

  let strength = base
  for (const entry of caps) if (entry.cap !== 'T') strength = worse(strength, entry.cap)
  const trusted = !caps.some((entry) => entry.cap === 'T')
  return {
    grade: trusted ? strength : 'T',
    gradeIgnoringTrust: strength,
    score,
    protocolScore,
    keyExchangeScore,
    cipherScore,
    caps: caps.map((entry) => ({...entry, applied: entry.cap === 'T' ? true : GRADES.indexOf(entry.cap) > GRADES.indexOf(base)})),
  }
}
