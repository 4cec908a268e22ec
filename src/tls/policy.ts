/**
 * The `tls` configuration keys as Node TLS context options: the server serves
 * exactly these, and `audit` judges what these admit, so both read them here.
 */
import {readFileSync} from 'node:fs'
import path from 'node:path'
import type tls from 'node:tls'

import type {Configuration} from '../config/index.js'
import {ConfigError, osErrorText} from '../errors.js'
import {FFDHE_GROUPS, type FfdheGroup, encodeDhParams, ffdhePrime} from './dhparam.js'

/**
 * What `ciphers: default` means for TLS 1.2 and older: Mozilla's
 * "intermediate" list, forward secrecy and authenticated encryption on every
 * suite. Node's own default still admits RSA key exchange and CBC suites,
 * which cost a server its A grade. TLS 1.3 keeps OpenSSL's suites, all of
 * which qualify.
 */
export const DEFAULT_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-CHACHA20-POLY1305',
].join(':')

/** The OpenSSL cipher string a `tls.ciphers` value stands for. */
export function cipherList(setting: string): string {
  return setting === 'default' ? DEFAULT_CIPHERS : setting
}

/** The directory relative `tls` file names are resolved against: the configuration file's. */
export function configDirectory(config: Configuration): string {
  return config.file ? path.dirname(config.file) : process.cwd()
}

/**
 * DH parameters for `tls.dhparam` as PEM: an RFC 7919 group by name, or a
 * PEM file (relative to `base`). Throws a ConfigError naming the file when it
 * cannot be read.
 */
export function dhParamsPem(value: string, base: string): string {
  if ((FFDHE_GROUPS as readonly string[]).includes(value)) return encodeDhParams({p: ffdhePrime(value as FfdheGroup), g: 2n})
  const file = path.resolve(base, value)
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    throw new ConfigError(`cannot read tls.dhparam ${file}: ${osErrorText(error)}`, {
      hint: `name an RFC 7919 group (${FFDHE_GROUPS.join(', ')}) or a PEM file ("xmppctl dhparam generate --out FILE" writes one)`,
    })
  }
}

/** minVersion, ciphers and dhparam for a secure context, from the `tls` keys. */
export function tlsPolicyOptions(config: Configuration): Pick<tls.SecureContextOptions, 'minVersion' | 'ciphers' | 'dhparam'> {
  const {min_version: minVersion, ciphers, dhparam} = config.settings.tls
  return {minVersion, ciphers: cipherList(ciphers), dhparam: dhParamsPem(dhparam, configDirectory(config))}
}
