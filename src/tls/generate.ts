import {X509Certificate, randomBytes} from 'node:crypto'

import type {Configuration} from '../config/index.js'
import {UsageError} from '../errors.js'
import {writeFileSecure} from '../secure-write.js'
import {CERT_MODE, KEY_MODE, ensureCertsDir, hostFiles, refuseExisting} from './files.js'
import {type KeySpec, generateKey} from './keys.js'
import {type IssuedNames, OID_SUBJECT_ALT_NAME, asciiDomain, encodeSubjectAltName, namesForHost} from './names.js'
import {x509} from './x509.js'

export interface GenerateOptions {
  key: KeySpec
  days: number
  subdomains: string[]
  force: boolean
  /** dNSName entries only, no XmppAddr or SRVName (names.ts namesForHost). */
  dnsOnly?: boolean
}

export interface GeneratedCertificate {
  host: string
  certFile: string
  keyFile: string
  key: KeySpec
  names: IssuedNames
  notBefore: string
  notAfter: string
  fingerprint256: string
}

export interface GeneratedRequest {
  host: string
  csrFile: string
  keyFile: string
  key: KeySpec
  names: IssuedNames
}

/** Up to 10 years: anything longer is refused by clients that cap validity (and is poor practice). */
export const MAX_DAYS = 3650

function checkSubdomains(subdomains: readonly string[]): void {
  for (const sub of subdomains) {
    if (!asciiDomain(sub) || sub.startsWith('*')) {
      throw new UsageError(`invalid subdomain "${sub}"`, 'give labels such as conference,upload (they are prefixed to each host)')
    }
  }
}

/** Extensions shared by the certificate and the request: names and what the key may be used for. */
function extensions(names: IssuedNames, key: KeySpec): InstanceType<typeof x509.Extension>[] {
  const usage = key.startsWith('rsa:') ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment : x509.KeyUsageFlags.digitalSignature
  return [
    new x509.Extension(OID_SUBJECT_ALT_NAME, false, new Uint8Array(encodeSubjectAltName(names))),
    new x509.KeyUsagesExtension(usage, true),
    // clientAuth too: servers present the same certificate when they connect to other servers (s2s).
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
  ]
}

/** A positive 128-bit serial number (RFC 5280 §4.1.2.2: at most 20 octets, positive). */
function serialNumber(): string {
  const bytes = randomBytes(16)
  bytes[0] = (bytes[0] & 0x7f) | 0x01
  return bytes.toString('hex')
}

/** A self-signed certificate and its key for each host, written to the certs directory. */
export async function generateCertificates(config: Configuration, hosts: readonly string[], options: GenerateOptions): Promise<GeneratedCertificate[]> {
  if (!Number.isInteger(options.days) || options.days < 1 || options.days > MAX_DAYS) {
    throw new UsageError(`--days ${options.days} is out of range`, `give a whole number of days from 1 to ${MAX_DAYS}`)
  }

  checkSubdomains(options.subdomains)
  const normalized = hosts.map((host) => config.requireHost(host))
  const dir = ensureCertsDir(config)
  for (const host of normalized) {
    const files = hostFiles(dir, host)
    refuseExisting([files.cert, files.key], options.force)
  }

  const results: GeneratedCertificate[] = []
  for (const host of normalized) {
    const files = hostFiles(dir, host)
    const key = await generateKey(options.key)
    const names = namesForHost(host, options.subdomains, {dnsOnly: options.dnsOnly})
    const now = Date.now()
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serialNumber(),
      name: `CN=${asciiDomain(host)}`,
      // Backdated a little so a peer whose clock is slightly behind accepts it at once.
      notBefore: new Date(now - 60 * 60 * 1000),
      notAfter: new Date(now + options.days * 24 * 60 * 60 * 1000),
      keys: key.keys,
      signingAlgorithm: key.signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        ...extensions(names, options.key),
        await x509.SubjectKeyIdentifierExtension.create(key.keys.publicKey),
      ],
    })
    const pem = certificate.toString('pem').replace(/\r\n/g, '\n')
    // Key first: a certificate without its key is useless, a key without a certificate harmless.
    writeFileSecure(files.key, key.pem, {mode: KEY_MODE, overwrite: options.force})
    writeFileSecure(files.cert, pem.endsWith('\n') ? pem : `${pem}\n`, {mode: CERT_MODE, overwrite: options.force})
    results.push({
      host,
      certFile: files.cert,
      keyFile: files.key,
      key: options.key,
      names,
      notBefore: certificate.notBefore.toISOString(),
      notAfter: certificate.notAfter.toISOString(),
      fingerprint256: new X509Certificate(pem).fingerprint256,
    })
  }

  return results
}

/** A key and a PKCS#10 request for each host, with the same names `generate` would use, for a CA to sign. */
export async function generateRequests(
  config: Configuration,
  hosts: readonly string[],
  options: Omit<GenerateOptions, 'days'>,
): Promise<GeneratedRequest[]> {
  checkSubdomains(options.subdomains)
  const normalized = hosts.map((host) => config.requireHost(host))
  const dir = ensureCertsDir(config)
  for (const host of normalized) {
    const files = hostFiles(dir, host)
    // The key of the certificate in use is HOST.key: a request replaces it only when asked to.
    refuseExisting([files.csr, files.key], options.force)
  }

  const results: GeneratedRequest[] = []
  for (const host of normalized) {
    const files = hostFiles(dir, host)
    const key = await generateKey(options.key)
    const names = namesForHost(host, options.subdomains, {dnsOnly: options.dnsOnly})
    const request = await x509.Pkcs10CertificateRequestGenerator.create({
      name: `CN=${asciiDomain(host)}`,
      keys: key.keys,
      signingAlgorithm: key.signingAlgorithm,
      extensions: extensions(names, options.key),
    })
    const pem = request.toString('pem').replace(/\r\n/g, '\n')
    writeFileSecure(files.key, key.pem, {mode: KEY_MODE, overwrite: options.force})
    writeFileSecure(files.csr, pem.endsWith('\n') ? pem : `${pem}\n`, {mode: CERT_MODE, overwrite: options.force})
    results.push({host, csrFile: files.csr, keyFile: files.key, key: options.key, names})
  }

  return results
}
