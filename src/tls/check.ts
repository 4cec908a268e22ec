/**
 * `cert check` and `cert list`: which certificate covers each configured
 * host, and what is wrong with it, as findings.
 */
import {existsSync, readdirSync, statSync} from 'node:fs'
import path from 'node:path'

import type {Configuration} from '../config/index.js'
import {labelsBelow, serviceDomains} from '../config/modules.js'
import {XmppctlError, isXmppctlError} from '../errors.js'
import {certsDir, hostFiles} from './files.js'
import type {Finding, Severity} from './findings.js'
import {type LoadedCertificate, checkChain, checkKey, daysUntil, isSelfSigned, loadCertificateFile, oneLine} from './inspect.js'
import {type NameMatch, describeNames, matchHost} from './names.js'

/**
 * Days-left thresholds, checked in order: under 1 day (or expired) is an
 * error; under 7 days a warning; under 30 days a notice, since certbot renews
 * at 30 days left, so `--fail-on warning` in a daily job stays quiet while
 * renewal works and speaks up a week before the end.
 */
export const EXPIRY_THRESHOLDS: ReadonlyArray<{days: number; severity: Severity}> = [
  {days: 1, severity: 'error'},
  {days: 7, severity: 'warning'},
  {days: 30, severity: 'notice'},
]

const CERT_EXTENSIONS = /\.(crt|pem|cer|cert)$/i

/** A `*`/`?` glob in the last path component only (Node 20 has no fs.glob). */
function expandGlob(pattern: string): string[] {
  const dir = path.dirname(pattern)
  const base = path.basename(pattern)
  if (!/[*?]/.test(base)) return existsSync(pattern) ? [pattern] : []
  const regex = new RegExp(`^${base.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`)
  try {
    return readdirSync(dir)
      .filter((name) => regex.test(name))
      .sort()
      .map((name) => path.join(dir, name))
  } catch {
    return []
  }
}

/** Certificate files: every `*.crt`/`*.pem` in the certs directory, then the `certfiles` of the configuration. */
export function certificateFiles(config: Configuration): string[] {
  const dir = certsDir(config)
  const files: string[] = []
  if (existsSync(dir)) {
    for (const name of readdirSync(dir).sort()) if (CERT_EXTENSIONS.test(name) && !name.startsWith('.')) files.push(path.join(dir, name))
  }

  const base = config.file ? path.dirname(config.file) : process.cwd()
  for (const pattern of config.settings.certfiles ?? []) files.push(...expandGlob(path.resolve(base, pattern)))
  return [...new Set(files)].filter((file) => {
    try {
      return statSync(file).isFile()
    } catch {
      return false
    }
  })
}

export interface LoadResult {
  certificates: LoadedCertificate[]
  /** Files that are not certificates (a stray key named .pem) or do not parse. */
  unreadable: Array<{file: string; message: string}>
}

export function loadAll(files: readonly string[]): LoadResult {
  const result: LoadResult = {certificates: [], unreadable: []}
  for (const file of files) {
    try {
      result.certificates.push(loadCertificateFile(file))
    } catch (error) {
      if (!isXmppctlError(error)) throw error
      result.unreadable.push({file, message: error.message})
    }
  }

  return result
}

/** What is reported of any certificate, a file here or one a remote server presents. */
export interface CertificateFacts {
  subject: string
  issuer: string
  names: string[]
  notBefore: string
  notAfter: string
  /** Whole days left, rounded down; negative once expired. */
  daysLeft: number
  key: string
  signatureAlgorithm: string
}

/** One certificate as reported: what `cert list` prints and `cert check` attaches to each host. */
export interface CertificateSummary extends CertificateFacts {
  file: string
  keyFile: string | null
  keyMatches: boolean | null
  selfSigned: boolean
  trusted: boolean
  chainLength: number
  chainInOrder: boolean
  fingerprint256: string
}

export function summarize(certificate: LoadedCertificate, now: Date): CertificateSummary {
  const {leaf} = certificate
  const key = checkKey(certificate)
  const chain = checkChain(certificate.chain.map((entry) => entry.x509))
  return {
    file: certificate.file,
    keyFile: certificate.key.file ?? null,
    subject: oneLine(leaf.x509.subject),
    issuer: oneLine(leaf.x509.issuer),
    names: describeNames(leaf.parsed.names),
    notBefore: leaf.parsed.notBefore.toISOString(),
    notAfter: leaf.parsed.notAfter.toISOString(),
    daysLeft: Math.floor(daysUntil(leaf.parsed.notAfter, now)),
    key: key.description.label,
    keyMatches: key.matches ?? null,
    signatureAlgorithm: leaf.parsed.signatureAlgorithm.name,
    selfSigned: isSelfSigned(leaf.x509),
    trusted: chain.trusted,
    chainLength: certificate.chain.length,
    chainInOrder: chain.inOrder,
    fingerprint256: leaf.x509.fingerprint256,
  }
}

/** The findings about one certificate, as used for `host`. */
export function certificateFindings(certificate: LoadedCertificate, host: string, now: Date): Finding[] {
  const findings: Finding[] = []
  const add = (id: string, severity: Severity, message: string, fix: string) => findings.push({id, severity, subject: host, message, fix})
  const {leaf, file} = certificate
  const renew = `renew it: "xmppctl cert import" a new one, or "xmppctl cert generate ${host} --force" for a self-signed one`
  const left = daysUntil(leaf.parsed.notAfter, now)
  if (leaf.parsed.notBefore > now) {
    add('cert-not-yet-valid', 'error', `${file} is not valid until ${leaf.parsed.notBefore.toISOString()}`, 'check the system clock, or use a certificate that is valid now')
  } else if (left <= 0) {
    add('cert-expired', 'error', `${file} expired on ${leaf.parsed.notAfter.toISOString()}`, renew)
  } else {
    const threshold = EXPIRY_THRESHOLDS.find((candidate) => left < candidate.days)
    if (threshold) {
      const days = Math.floor(left)
      const when = days === 0 ? `in ${Math.max(1, Math.floor(left * 24))} hours` : `in ${days} day${days === 1 ? '' : 's'}`
      add('cert-expires-soon', threshold.severity, `${file} expires ${when} (${leaf.parsed.notAfter.toISOString()})`, renew)
    }
  }

  const key = checkKey(certificate)
  if (certificate.key.state === 'missing') {
    add('cert-key-missing', 'error', `no private key found for ${file}`, `put the key beside it as ${path.basename(file).replace(/\.[^.]+$/, '')}.key`)
  } else if (certificate.key.state === 'unusable') {
    add('cert-key-unusable', 'error', `key ${certificate.key.file} cannot be used: ${certificate.key.reason}`, 'write the unencrypted PKCS#8 or PKCS#1 key there (openssl pkey -in KEY -out KEY.new)')
  } else if (key.matches === false) {
    add('cert-key-mismatch', 'error', `key ${certificate.key.file} does not belong to ${file}`, 'install the key the certificate was issued for, or a certificate for this key')
  } else if (certificate.key.state === 'found' && certificate.key.mode !== undefined && (certificate.key.mode & 0o077) !== 0) {
    const mode = certificate.key.mode.toString(8).padStart(4, '0')
    add('cert-key-readable', 'warning', `key ${certificate.key.file} has mode ${mode}: others on this machine can read it`, `chmod 600 ${certificate.key.file}`)
  }

  if (!key.description.strong) {
    add('cert-key-weak', 'error', `${file} has a weak ${key.description.label} key`, 'use RSA of at least 2048 bits or EC of at least 256 bits ("xmppctl cert generate --key ec:p256")')
  } else if (key.description.type === 'ed25519' || key.description.type === 'ed448') {
    add('cert-key-eddsa', 'info', `${file} has an ${key.description.type} key, which some clients cannot use`, 'keep an ECDSA P-256 certificate if Apple, Windows or older Android clients must connect')
  }

  const selfSigned = isSelfSigned(leaf.x509)
  for (const [index, entry] of certificate.chain.entries()) {
    // A root's signature on itself is checked by no one; every other signature is.
    if (index > 0 && isSelfSigned(entry.x509)) continue
    if (entry.parsed.signatureAlgorithm.weak) {
      const which = index === 0 ? file : `certificate ${index + 1} in ${file} (${oneLine(entry.x509.subject)})`
      const fix = index === 0 && selfSigned ? `generate a new one: "xmppctl cert generate ${host} --force"` : 'get it reissued with a SHA-256 signature'
      add('cert-signature-weak', 'error', `${which} is signed with ${entry.parsed.signatureAlgorithm.name}, which clients refuse`, fix)
    }
  }

  const chain = checkChain(certificate.chain.map((entry) => entry.x509))
  if (!chain.inOrder) {
    add('cert-chain-order', 'warning', `the chain in ${file} is out of order: each certificate must be followed by its issuer`, 'put the server certificate first, then each intermediate after the one it signed (certbot: use fullchain.pem)')
  }

  if (selfSigned) {
    add('cert-self-signed', 'warning', `${file} is self-signed: clients ask users to trust it and other servers may refuse it`, 'get a CA-signed certificate (e.g. certbot) and "xmppctl cert import" it')
  } else if (!chain.trusted) {
    add('cert-untrusted', 'warning', `${file} does not verify against the system trust store: ${chain.problem}`, 'append the intermediate certificates to the file (certbot: use fullchain.pem)')
  }

  return findings
}

export interface HostReport {
  host: string
  /** The certificate that covers the host, or null. */
  certificate: CertificateSummary | null
  /** How the certificate names the host. */
  match: NameMatch | null
  /** `ok` when no finding above info, else the worst severity. */
  status: 'ok' | Severity
}

export interface CheckResult {
  hosts: HostReport[]
  findings: Finding[]
}

function byExpiryDescending(a: LoadedCertificate, b: LoadedCertificate): number {
  return b.leaf.parsed.notAfter.getTime() - a.leaf.parsed.notAfter.getTime()
}

/** The certificate a host uses: `certs/HOST.crt` if it names the host, else the longest-valid one naming it. */
export function certificateForHost(loaded: LoadResult, dir: string, host: string, now: Date): {certificate?: LoadedCertificate; match?: NameMatch; misnamed?: LoadedCertificate} {
  const own = hostFiles(dir, host).cert
  const mine = loaded.certificates.find((certificate) => certificate.file === own)
  if (mine) {
    const match = matchHost(mine.leaf.parsed.names, host)
    if (match) return {certificate: mine, match}
  }

  const covering = loaded.certificates
    .map((certificate) => ({certificate, match: matchHost(certificate.leaf.parsed.names, host)}))
    .filter((entry): entry is {certificate: LoadedCertificate; match: NameMatch} => entry.match !== undefined)
  const current = covering.filter((entry) => entry.certificate.leaf.parsed.notBefore <= now)
  const best = (current.length > 0 ? current : covering).sort((a, b) => byExpiryDescending(a.certificate, b.certificate))[0]
  return {...best, misnamed: mine}
}

const severityOrder: Severity[] = ['error', 'warning', 'notice', 'info']

/**
 * A federating server presents the host's certificate for its services'
 * domains too (unless s2s_certfile is set, which the audit's s2s check
 * reads): a peer authenticates conference.HOST by it (XEP-0178 §3), and
 * one with s2s_secure_auth refuses a domain it does not name.
 */
function serviceDomainFindings(config: Configuration, certificate: LoadedCertificate, host: string): Finding[] {
  const {settings} = config
  if (settings.s2s_certfile !== undefined || !settings.listen.some((listener) => listener.module === 's2s')) return []
  return serviceDomains(settings.modules, host)
    .filter((domain) => !matchHost(certificate.leaf.parsed.names, domain))
    .map((domain) => {
      const labels = labelsBelow(domain, host)
      return {
        id: 'cert-service-uncovered',
        // A notice: dialback still federates the domain, and a CA certificate for a new name is an operator's errand.
        severity: 'notice',
        subject: domain,
        message: `${certificate.file} does not name ${domain}, which federates with ${host}'s certificate: other servers authenticate it by dialback only, and those with s2s_secure_auth refuse it`,
        fix: isSelfSigned(certificate.leaf.x509) && labels !== undefined
          ? `"xmppctl cert generate ${host} --with-subdomains ${labels} --force" (or use a CA certificate that names ${domain})`
          : `use a certificate that names ${domain} as well as ${host}`,
      }
    })
}

export function checkHosts(config: Configuration, hosts: readonly string[] | undefined, now = new Date()): CheckResult {
  const selected = hosts && hosts.length > 0 ? hosts.map((host) => config.requireHost(host)) : [...config.hosts]
  if (selected.length === 0) throw new XmppctlError('no-hosts', 'no hosts are configured', {hint: 'add "hosts" to the configuration'})
  const dir = certsDir(config)
  const loaded = loadAll(certificateFiles(config))
  const findings: Finding[] = []
  const reports: HostReport[] = []
  for (const host of selected) {
    const {certificate, match, misnamed} = certificateForHost(loaded, dir, host, now)
    const own: Finding[] = []
    if (misnamed && misnamed !== certificate) {
      own.push({
        id: 'cert-wrong-host',
        severity: 'error',
        subject: host,
        message: `${misnamed.file} does not name ${host} (it names ${describeNames(misnamed.leaf.parsed.names).join(', ') || 'nothing'})`,
        fix: `replace it with a certificate for ${host}: "xmppctl cert generate ${host} --force" or "xmppctl cert import"`,
      })
    }

    const unreadableOwn = loaded.unreadable.find((entry) => entry.file === hostFiles(dir, host).cert)
    if (unreadableOwn) own.push({id: 'cert-unreadable', severity: 'error', subject: host, message: unreadableOwn.message, fix: `replace it: "xmppctl cert generate ${host} --force" or "xmppctl cert import"`})
    if (certificate) own.push(...certificateFindings(certificate, host, now), ...serviceDomainFindings(config, certificate, host))
    else if (!misnamed && !unreadableOwn) {
      own.push({
        id: 'cert-missing',
        severity: 'error',
        subject: host,
        message: `no certificate covers ${host}`,
        fix: `"xmppctl cert import /etc/letsencrypt" or "xmppctl cert generate ${host}"`,
      })
    }

    own.sort((a, b) => severityOrder.indexOf(a.severity) - severityOrder.indexOf(b.severity))
    findings.push(...own)
    const top = own.find((finding) => finding.severity !== 'info')?.severity
    reports.push({host, certificate: certificate ? summarize(certificate, now) : null, match: match ?? null, status: top ?? 'ok'})
  }

  return {hosts: reports, findings}
}

export interface ListedCertificate extends Partial<CertificateSummary> {
  file: string
  /** Configured hosts it covers. */
  hosts: string[]
  /** Why the file could not be read, for files that are not certificates. */
  error?: string
}

export function listCertificates(config: Configuration, now = new Date()): ListedCertificate[] {
  const loaded = loadAll(certificateFiles(config))
  const listed: ListedCertificate[] = loaded.certificates.map((certificate) => ({
    ...summarize(certificate, now),
    hosts: config.hosts.filter((host) => matchHost(certificate.leaf.parsed.names, host)),
  }))
  for (const {file, message} of loaded.unreadable) listed.push({file, hosts: [], error: message})
  return listed.sort((a, b) => a.file.localeCompare(b.file))
}
