/** Real files for the audit tests: configurations, stores, certificates and keys made the way operators make them. */
import {generateKeyPairSync, webcrypto} from 'node:crypto'
import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {addUser} from '../../../src/accounts/index.js'
import {type Configuration, loadConfig} from '../../../src/config/index.js'
import {openAccountStore} from '../../../src/store/index.js'
import {encodeSubjectAltName, namesForHost} from '../../../src/tls/names.js'
import {encodePem} from '../../../src/tls/pem.js'
import {x509} from '../../../src/tls/x509.js'
import {tempDir} from '../../helpers.js'

export function setup(t: {after(fn: () => void): void}, yaml: string): {dir: string; file: string; config: () => Configuration} {
  const dir = tempDir(t, 'xmppctl-audit-')
  const file = path.join(dir, 'xmppctl.yml')
  writeFileSync(file, yaml, {mode: 0o600})
  return {dir, file, config: () => loadConfig(file)}
}

/** Creates accounts through the real store (and so the data directory, 0700, and the store, 0600). */
export async function addAccounts(config: Configuration, accounts: Array<[string, string]>): Promise<void> {
  const store = await openAccountStore(config)
  try {
    for (const [jid, password] of accounts) await addUser({config, store}, jid, password)
  } finally {
    await store.close()
  }
}

export interface CertOptions {
  host: string
  notBefore?: Date
  notAfter?: Date
  hash?: 'SHA-256' | 'SHA-1'
}

/** A self-signed P-256 certificate with the host's XMPP names, and its key (mode 0600), written to `base.crt` and `base.key`. */
export async function writeCertificate(base: string, options: CertOptions): Promise<{crt: string; key: string; pem: string}> {
  const keys = (await webcrypto.subtle.generateKey({name: 'ECDSA', namedCurve: 'P-256'}, true, ['sign', 'verify'])) as CryptoKeyPair
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '0a',
    name: `CN=${options.host}`,
    notBefore: options.notBefore ?? new Date(Date.now() - 3_600_000),
    notAfter: options.notAfter ?? new Date(Date.now() + 90 * 86_400_000),
    keys,
    signingAlgorithm: {name: 'ECDSA', hash: options.hash ?? 'SHA-256'} as EcdsaParams,
    extensions: [new x509.Extension('2.5.29.17', false, new Uint8Array(encodeSubjectAltName(namesForHost(options.host))))],
  })
  mkdirSync(path.dirname(base), {recursive: true, mode: 0o700})
  const key = encodePem('PRIVATE KEY', new Uint8Array(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)))
  const pem = certificate.toString('pem').replace(/\r\n/g, '\n')
  writeFileSync(`${base}.key`, key, {mode: 0o600})
  writeFileSync(`${base}.crt`, `${pem}\n`, {mode: 0o644})
  return {crt: `${base}.crt`, key: `${base}.key`, pem}
}

/** An RSA key pair as PEM (PKCS#8 private, SPKI public). */
export function rsaPem(bits = 2048): {privateKey: string; publicKey: string} {
  return generateKeyPairSync('rsa', {modulusLength: bits, publicKeyEncoding: {type: 'spki', format: 'pem'}, privateKeyEncoding: {type: 'pkcs8', format: 'pem'}})
}
