/**
 * Reading certificate files: the chain, the names, the dates, the signature
 * algorithm, the key beside it, and whether the chain leads to a trusted root.
 */
import {type KeyObject, X509Certificate, createPrivateKey} from 'node:crypto'
import {existsSync, readFileSync, statSync} from 'node:fs'
import path from 'node:path'
import {rootCertificates} from 'node:tls'

import {XmppctlError, osErrorText} from '../errors.js'
import {DerError, Tag, children, expect, readOne, toOid} from './der.js'
import {type KeyDescription, describeKey} from './keys.js'
import {OID_SUBJECT_ALT_NAME, type PresentedNames, decodeSubjectAltName, emptyNames} from './names.js'
import {type PemBlock, encodePem, parsePem, pemError, readCertificateBlocks} from './pem.js'

/** Signature algorithm OIDs (RFC 3279, 4055, 5758, 8410) and whether they are still acceptable. */
const SIGNATURE_ALGORITHMS: Record<string, {name: string; weak: boolean}> = {
  '1.2.840.113549.1.1.2': {name: 'md2WithRSAEncryption', weak: true},
  '1.2.840.113549.1.1.4': {name: 'md5WithRSAEncryption', weak: true},
  '1.2.840.113549.1.1.5': {name: 'sha1WithRSAEncryption', weak: true},
  '1.2.840.113549.1.1.10': {name: 'RSASSA-PSS', weak: false},
  '1.2.840.113549.1.1.11': {name: 'sha256WithRSAEncryption', weak: false},
  '1.2.840.113549.1.1.12': {name: 'sha384WithRSAEncryption', weak: false},
  '1.2.840.113549.1.1.13': {name: 'sha512WithRSAEncryption', weak: false},
  '1.2.840.113549.1.1.14': {name: 'sha224WithRSAEncryption', weak: false},
  '1.2.840.10040.4.3': {name: 'dsa-with-SHA1', weak: true},
  '1.2.840.10045.4.1': {name: 'ecdsa-with-SHA1', weak: true},
  '1.2.840.10045.4.3.1': {name: 'ecdsa-with-SHA224', weak: false},
  '1.2.840.10045.4.3.2': {name: 'ecdsa-with-SHA256', weak: false},
  '1.2.840.10045.4.3.3': {name: 'ecdsa-with-SHA384', weak: false},
  '1.2.840.10045.4.3.4': {name: 'ecdsa-with-SHA512', weak: false},
  '1.3.101.112': {name: 'Ed25519', weak: false},
  '1.3.101.113': {name: 'Ed448', weak: false},
}

export interface SignatureAlgorithm {
  oid: string
  name: string
  weak: boolean
}

/** What the DER says that Node's X509Certificate does not expose: names, exact dates, signature algorithm. */
export interface ParsedCertificate {
  names: PresentedNames
  notBefore: Date
  notAfter: Date
  signatureAlgorithm: SignatureAlgorithm
}

function parseTime(element: {tag: number; content: Buffer}): Date {
  const text = element.content.toString('latin1')
  // UTCTime YYMMDDHHMMSSZ (years 1950–2049, RFC 5280 §4.1.2.5.1) or GeneralizedTime YYYYMMDDHHMMSSZ.
  const match = element.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
  if (!match) throw new DerError(`bad time ${text}`)
  let year = Number(match[1])
  if (element.tag === 0x17) year += year < 50 ? 2000 : 1900
  return new Date(Date.UTC(year, Number(match[2]) - 1, Number(match[3]), Number(match[4]), Number(match[5]), Number(match[6])))
}

function directoryString(element: {tag: number; content: Buffer}): string {
  if (element.tag === 0x1e) return Buffer.from(element.content).swap16().toString('utf16le') // BMPString, big-endian
  return element.content.toString(element.tag === Tag.utf8String ? 'utf8' : 'latin1')
}

export function parseCertificateDer(der: Buffer): ParsedCertificate {
  const [tbs, signatureAlgorithm] = children(expect(readOne(der), Tag.sequence, 'Certificate').content)
  const fields = children(expect(tbs, Tag.sequence, 'TBSCertificate').content)
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0 // [0] EXPLICIT version
  const validity = children(expect(fields[offset + 3], Tag.sequence, 'Validity').content)
  const subject = expect(fields[offset + 4], Tag.sequence, 'Name')
  const names = emptyNames()
  for (const rdn of children(subject.content)) {
    for (const attribute of children(rdn.content)) {
      const [type, value] = children(attribute.content)
      if (type && value && toOid(type) === '2.5.4.3') names.cn.push(directoryString(value))
    }
  }

  const extensions = fields.slice(offset + 6).find((field) => field.tag === 0xa3)
  if (extensions) {
    for (const extension of children(children(extensions.content)[0]?.content ?? Buffer.alloc(0))) {
      const parts = children(extension.content)
      if (toOid(parts[0]) === OID_SUBJECT_ALT_NAME) decodeSubjectAltName(parts[parts.length - 1].content, names)
    }
  }

  const algorithmOid = toOid(children(expect(signatureAlgorithm, Tag.sequence, 'AlgorithmIdentifier').content)[0])
  return {
    names,
    notBefore: parseTime(validity[0]),
    notAfter: parseTime(validity[1]),
    signatureAlgorithm: {oid: algorithmOid, ...(SIGNATURE_ALGORITHMS[algorithmOid] ?? {name: algorithmOid, weak: false})},
  }
}

export interface ChainCertificate {
  x509: X509Certificate
  parsed: ParsedCertificate
}

/** The private key beside a certificate, or why there is none usable. */
export type KeyState =
  | {state: 'found'; file: string; key: KeyObject; mode: number | undefined}
  | {state: 'missing'; file: string | undefined}
  | {state: 'unusable'; file: string; reason: string}

export interface LoadedCertificate {
  file: string
  chain: ChainCertificate[]
  leaf: ChainCertificate
  key: KeyState
}

/** Reads a certificate file (a certificate, then its chain) and finds its key. */
export function loadCertificateFile(file: string): LoadedCertificate {
  const {certificates, keys} = readCertificateBlocks(file)
  const chain = certificates.map((der) => {
    try {
      return {x509: new X509Certificate(der), parsed: parseCertificateDer(der)}
    } catch {
      throw pemError(file, 'contains a certificate that does not parse', 'check the file is an intact X.509 certificate in PEM')
    }
  })
  return {file, chain, leaf: chain[0], key: findKey(file, keys)}
}

/** The key file for a certificate file: in the same file, `NAME.key` beside `NAME.crt`, or certbot's `privkey.pem`. */
export function keyFileFor(file: string): string | undefined {
  const dir = path.dirname(file)
  const base = path.basename(file)
  const stem = base.replace(/\.(crt|pem|cer|cert)$/i, '')
  const candidates = [path.join(dir, `${stem}.key`)]
  if (/^(fullchain|cert)\.pem$/.test(base)) candidates.push(path.join(dir, 'privkey.pem'))
  return candidates.find((candidate) => candidate !== file && existsSync(candidate))
}

function findKey(file: string, inline: PemBlock[]): KeyState {
  if (inline.length > 0) return keyFromBlock(file, inline[0])
  const keyFile = keyFileFor(file)
  if (!keyFile) return {state: 'missing', file: undefined}
  let blocks: PemBlock[]
  try {
    blocks = parsePem(readFileSync(keyFile, 'utf8'))
  } catch (error) {
    return {state: 'unusable', file: keyFile, reason: `cannot read it: ${osErrorText(error)}`}
  }

  const block = blocks.find((candidate) => /PRIVATE KEY$/.test(candidate.label))
  if (!block) return {state: 'unusable', file: keyFile, reason: 'it holds no private key'}
  return keyFromBlock(keyFile, block)
}

export function keyFromBlock(file: string, block: PemBlock): KeyState {
  if (block.label === 'ENCRYPTED PRIVATE KEY') return {state: 'unusable', file, reason: 'it is encrypted with a passphrase, which a server cannot type'}
  try {
    const key = createPrivateKey(encodePem(block.label, block.der))
    return {state: 'found', file, key, mode: statSync(file).mode & 0o777}
  } catch {
    return {state: 'unusable', file, reason: 'it does not parse as a private key'}
  }
}

export interface KeyCheck {
  description: KeyDescription
  matches: boolean | undefined
}

export function checkKey(certificate: LoadedCertificate): KeyCheck {
  const description = describeKey(certificate.leaf.x509.publicKey)
  return {description, matches: certificate.key.state === 'found' ? certificate.leaf.x509.checkPrivateKey(certificate.key.key) : undefined}
}

export function issued(subject: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return subject.checkIssued(issuer) && subject.verify(issuer.publicKey)
  } catch {
    return false
  }
}

/**
 * Signed by its own key. Not `checkIssued`: OpenSSL's issuer check wants
 * keyCertSign in the key usage, which a self-signed server certificate
 * rightly lacks.
 */
export function isSelfSigned(certificate: X509Certificate): boolean {
  try {
    return certificate.subject === certificate.issuer && certificate.verify(certificate.publicKey)
  } catch {
    return false
  }
}

/**
 * The trust anchors: Node's bundled Mozilla roots, plus the system bundle
 * (SSL_CERT_FILE if set, else the first of the usual distribution paths), so a
 * CA the operator added to the system is trusted here as it is by OpenSSL.
 */
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem', '/etc/ssl/ca-bundle.pem']

let anchors: Map<string, X509Certificate[]> | undefined

export function trustAnchors(env: NodeJS.ProcessEnv = process.env): Map<string, X509Certificate[]> {
  if (anchors) return anchors
  anchors = new Map()
  const pems = [...rootCertificates]
  const bundle = env.SSL_CERT_FILE || SYSTEM_BUNDLES.find((file) => existsSync(file))
  if (bundle) {
    try {
      for (const block of parsePem(readFileSync(bundle, 'utf8'))) if (block.label === 'CERTIFICATE') pems.push(encodePem('CERTIFICATE', block.der))
    } catch {}
  }

  for (const pem of pems) {
    try {
      const certificate = new X509Certificate(pem)
      const list = anchors.get(certificate.subject) ?? []
      list.push(certificate)
      anchors.set(certificate.subject, list)
    } catch {}
  }

  return anchors
}

export interface ChainCheck {
  /** Every certificate is followed by its issuer. */
  inOrder: boolean
  trusted: boolean
  /** Why the chain does not verify, when it does not. */
  problem: string | undefined
}

/** Follows issuers from the leaf through the given chain to a trust anchor. */
export function checkChain(chain: readonly X509Certificate[]): ChainCheck {
  let inOrder = true
  for (let index = 1; index < chain.length; index++) if (!issued(chain[index - 1], chain[index])) inOrder = false
  const roots = trustAnchors()
  let current = chain[0]
  const used = new Set<X509Certificate>([current])
  for (let depth = 0; depth < 10; depth++) {
    const anchor = (roots.get(current.issuer) ?? []).find((root) => root.fingerprint256 === current.fingerprint256 || issued(current, root))
    if (anchor) return {inOrder, trusted: true, problem: undefined}
    const next = chain.find((candidate) => !used.has(candidate) && issued(current, candidate))
    if (!next) {
      const problem = isSelfSigned(current)
        ? current === chain[0]
          ? 'the certificate is self-signed'
          : `the root "${oneLine(current.subject)}" is not in the system trust store`
        : `the issuer "${oneLine(current.issuer)}" is neither in the file nor in the system trust store`
      return {inOrder, trusted: false, problem}
    }

    used.add(next)
    current = next
  }

  return {inOrder, trusted: false, problem: 'the chain is longer than 10 certificates'}
}

/** `CN=example.org, O=Example` from Node's multi-line distinguished name. */
export function oneLine(name: string): string {
  return name.split('\n').filter(Boolean).join(', ')
}

/** Whole days from `now` until `date` (negative once past). */
export function daysUntil(date: Date, now: Date): number {
  return (date.getTime() - now.getTime()) / 86_400_000
}

export function requireFile(file: string): void {
  if (!existsSync(file)) throw new XmppctlError('file-missing', `${file} does not exist`, {hint: 'check the path'})
}
