/**
 * The server's certificates: every certificate and key in `certfiles`
 * (files or globs, relative to the configuration file), matched to each
 * other by public key and to hosts by name. Without `certfiles`, a host uses
 * `data_dir/certs/HOST.crt` and `HOST.key`, generated self-signed on first
 * start by src/tls (openssl as a fallback).
 */
import {execFile} from 'node:child_process'
import {X509Certificate, createPrivateKey, createPublicKey} from 'node:crypto'
import {existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {promisify} from 'node:util'

import type {Configuration} from '../config/index.js'
import {labelsBelow, serviceDomains} from '../config/modules.js'
import {XmppctlError, osErrorText} from '../errors.js'

export interface HostCertificate {
  host: string
  /** Leaf first, then the chain. */
  cert: string
  key: string
  file: string
  notAfter: Date
  selfSigned: boolean
}

export class CertificateError extends XmppctlError {
  constructor(message: string, hint: string) {
    super('certificate-missing', message, {hint})
  }
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g

/** Expands `dir/*.pem`-style globs (wildcards in the file name only). */
function expand(pattern: string, base: string): string[] {
  const absolute = path.resolve(base, pattern)
  const name = path.basename(absolute)
  if (!/[*?]/.test(name)) return [absolute]
  const dir = path.dirname(absolute)
  const regex = new RegExp(`^${name.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`)
  let entries: string[] = []
  try {
    entries = readdirSync(dir)
  } catch {}

  return entries.filter((entry) => regex.test(entry)).sort().map((entry) => path.join(dir, entry))
}

interface Leaf {
  x509: X509Certificate
  pem: string
  chain: string[]
  file: string
}

function spki(key: {export(options: {type: 'spki'; format: 'der'}): Buffer}): string {
  return key.export({type: 'spki', format: 'der'}).toString('base64')
}

/** Reads certificates and keys from the configured files; throws CertificateError naming the file at fault. */
function readConfigured(files: string[]): {leaves: Leaf[]; keys: Map<string, string>} {
  const leaves: Leaf[] = []
  const keys = new Map<string, string>()
  for (const file of files) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (error) {
      throw new CertificateError(`cannot read certificate file ${file}: ${osErrorText(error)}`, 'fix certfiles in the configuration, or the file permissions')
    }

    const certs: string[] = []
    for (const match of text.matchAll(PEM_BLOCK)) {
      const [pem, label] = match
      if (label === 'CERTIFICATE') certs.push(pem)
      else if (label.endsWith('PRIVATE KEY')) {
        try {
          keys.set(spki(createPublicKey(createPrivateKey(pem))), pem)
        } catch (error) {
          throw new CertificateError(`${file} holds a private key that cannot be read: ${osErrorText(error)}`, 'use an unencrypted PEM key')
        }
      }
    }

    if (certs.length > 0) {
      try {
        leaves.push({x509: new X509Certificate(certs[0]), pem: certs[0], chain: certs.slice(1), file})
      } catch (error) {
        throw new CertificateError(`${file} holds a certificate that cannot be parsed: ${osErrorText(error)}`, 'check the file is a PEM certificate')
      }
    }
  }

  return {leaves, keys}
}

/** Writes a self-signed certificate and key for `host` to `certFile` and `keyFile`. */
export type SelfSignedGenerator = (config: Configuration, host: string, files: {cert: string; key: string}) => Promise<void>

/**
 * The labels of `host`'s service domains below it (conference, upload): a
 * peer connecting to a room's domain authenticates it by the host's
 * certificate (XEP-0178 §3), so the one made on first start names them too.
 */
function serviceLabels(config: Configuration, host: string): string[] {
  return serviceDomains(config.settings.modules, host).flatMap((domain) => labelsBelow(domain, host) ?? [])
}

/** src/tls's generator (`xmppctl cert generate`): a P-256 key naming the host and its service domains, in `data_dir/certs/HOST.crt|key`. */
export const tlsSelfSigned: SelfSignedGenerator = async (config, host) => {
  const {generateCertificates} = await import('../tls/generate.js')
  await generateCertificates(config, [host], {key: 'ec:p256', days: 825, subdomains: serviceLabels(config, host), force: false})
}

/** Fallback generator when src/tls cannot be used: `openssl req -x509` with a P-256 key. */
export const opensslSelfSigned: SelfSignedGenerator = async (config, host, files) => {
  const run = promisify(execFile)
  const names = [host, ...serviceLabels(config, host).map((label) => `${label}.${host}`)].map((name) => `DNS:${name}`).join(',')
  const {stdout} = await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '825',
    '-subj', `/CN=${host}`, '-addext', `subjectAltName=${names}`, '-keyout', '-', '-out', '-',
  ], {timeout: 30_000})
  const key = stdout.match(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/)?.[0]
  const cert = stdout.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/)?.[0]
  if (!key || !cert) throw new Error('openssl did not print a certificate and key')
  writeFileSync(files.key, key, {mode: 0o600, flag: 'wx'})
  writeFileSync(files.cert, cert, {mode: 0o644, flag: 'wx'})
}

/**
 * The certificate of `host` in `data_dir/certs/` (HOST.crt and HOST.key, the
 * layout of "xmppctl cert generate"), generated self-signed when absent.
 */
async function dataDirCertificate(config: Configuration, host: string, generate: SelfSignedGenerator): Promise<HostCertificate> {
  const dir = path.join(config.dataDir, 'certs')
  const files = {cert: path.join(dir, `${host}.crt`), key: path.join(dir, `${host}.key`)}
  if (!existsSync(files.cert) && !existsSync(files.key)) {
    mkdirSync(dir, {recursive: true, mode: 0o700})
    try {
      await generate(config, host, files)
    } catch (error) {
      if (generate !== tlsSelfSigned) throw error
      await opensslSelfSigned(config, host, files)
    }
  }

  const {leaves, keys} = readConfigured([files.cert, files.key])
  const leaf = leaves[0]
  const key = leaf && keys.get(spki(leaf.x509.publicKey))
  if (!leaf || !key) throw new CertificateError(`${files.cert} and ${files.key} are not a certificate with its key`, 'move them away to get a new self-signed pair on start, or replace them with "xmppctl cert generate --force"')
  return {host, cert: [leaf.pem, ...leaf.chain].join('\n'), key, file: files.cert, notAfter: new Date(leaf.x509.validTo), selfSigned: leaf.x509.verify(leaf.x509.publicKey)}
}

/**
 * One certificate per configured host. Throws CertificateError when
 * `certfiles` is set but has nothing for a host, naming the host.
 */
export async function loadCertificates(config: Configuration, generate: SelfSignedGenerator = tlsSelfSigned): Promise<Map<string, HostCertificate>> {
  const base = config.file ? path.dirname(config.file) : process.cwd()
  const files = config.settings.certfiles.flatMap((pattern) => expand(pattern, base))
  const {leaves, keys} = readConfigured(files)
  const result = new Map<string, HostCertificate>()
  for (const host of config.hosts) {
    const candidates = leaves
      .filter((leaf) => leaf.x509.checkHost(host) !== undefined && keys.has(spki(leaf.x509.publicKey)))
      .sort((a, b) => Date.parse(b.x509.validTo) - Date.parse(a.x509.validTo))
    const [leaf] = candidates
    if (leaf) {
      result.set(host, {
        host,
        cert: [leaf.pem, ...leaf.chain].join('\n'),
        key: keys.get(spki(leaf.x509.publicKey))!,
        file: leaf.file,
        notAfter: new Date(leaf.x509.validTo),
        selfSigned: leaf.x509.verify(leaf.x509.publicKey),
      })
    } else if (config.settings.certfiles.length === 0) {
      result.set(host, await dataDirCertificate(config, host, generate))
    } else {
      throw new CertificateError(
        `no certificate for ${host} (with its private key) in certfiles (${config.settings.certfiles.join(', ')})`,
        `add a certificate whose names include ${host}, e.g. with "xmppctl cert generate", or fix certfiles`,
      )
    }
  }

  return result
}
