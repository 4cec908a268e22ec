/**
 * TLS policy: whether clients can stay unencrypted, the lowest protocol
 * version, what the cipher string admits (asked of OpenSSL, see
 * ../cipher-policy.ts) and the DH parameters.
 * Federation's policy (s2s_use_starttls, s2s_secure_auth) is s2s-policy.ts's.
 */
import path from 'node:path'

import {FFDHE_GROUPS, checkDhParams} from '../../tls/dhparam.js'
import {configDirectory} from '../../tls/policy.js'
import {expandCipherPolicy, readableDhParams} from '../cipher-policy.js'
import {type AuditFinding, fromTlsSeverity} from '../findings.js'
import type {SuiteInfo} from '../suites.js'
import type {Check} from './types.js'

const SHOWN = 8

function suiteList(suites: SuiteInfo[]): string {
  const names = suites.map((suite) => suite.name)
  return names.slice(0, SHOWN).join(', ') + (names.length > SHOWN ? ` and ${names.length - SHOWN} more` : '')
}

/** The cipher-string findings: each kind of weak suite the string admits, with the suites named. */
export function cipherFindings(suites: SuiteInfo[], subject: string): AuditFinding[] {
  const findings: AuditFinding[] = []
  const fix = 'set tls.ciphers: "ECDHE+AESGCM:ECDHE+CHACHA20" (forward-secret AEAD suites only; TLS 1.3 suites are always allowed). Node\'s default admits RSA key exchange and CBC suites'
  const kinds: Array<[string, 'critical' | 'warning', (suite: SuiteInfo) => boolean, string]> = [
    ['cipher-null', 'critical', (suite) => suite.nullCipher, 'NULL suites, which do not encrypt at all'],
    ['cipher-anonymous', 'critical', (suite) => suite.anonymous, 'anonymous suites, which do not authenticate the server (anyone in the middle can read everything)'],
    ['cipher-export', 'critical', (suite) => suite.export, 'EXPORT suites, breakable in hours (FREAK, Logjam)'],
    ['cipher-rc4', 'critical', (suite) => suite.rc4, 'RC4 suites, whose biases reveal plaintext (RFC 7465 forbids them)'],
    ['cipher-3des', 'critical', (suite) => suite.tripleDes, '3DES suites, open to Sweet32'],
    ['cipher-no-forward-secrecy', 'warning', (suite) => !suite.forwardSecrecy, 'suites without forward secrecy: whoever gets the server key later can decrypt recorded sessions'],
    ['cipher-non-aead', 'warning', (suite) => !suite.aead, 'suites without authenticated encryption (CBC with HMAC: Lucky13-style padding oracles)'],
  ]
  for (const [id, severity, test, what] of kinds) {
    const matching = suites.filter(test)
    if (matching.length > 0) findings.push({id, severity, subject, message: `the cipher string admits ${what}: ${suiteList(matching)}`, fix})
  }

  return findings
}

export const tlsPolicyCheck: Check = {
  id: 'tls-policy',
  description: 'c2s encryption required, tls.min_version, what tls.ciphers admits, DH parameters',
  findings: ['c2s-encryption-optional', 'plain-without-tls', 'http-without-tls', 'web-any-origin', 'tls-min-version', 'cipher-string-invalid', 'cipher-null', 'cipher-anonymous', 'cipher-export', 'cipher-rc4', 'cipher-3des', 'cipher-no-forward-secrecy', 'cipher-non-aead', 'dhparam-unreadable', 'dh-too-small', 'dh-not-prime', 'dh-not-safe-prime', 'dh-q-mismatch', 'dh-bad-generator', 'dh-generator-full-group'],
  async run({config}) {
    const findings: AuditFinding[] = []
    const {tls, listen} = config.settings
    // WebSocket and BOSH logins, and uploads, over an http listener without TLS travel in cleartext (no STARTTLS in HTTP).
    for (const listener of listen.filter((entry) => entry.module === 'http' && !entry.tls)) {
      findings.push({
        id: 'http-without-tls',
        severity: listener.ip.startsWith('127.') || listener.ip === '::1' ? 'info' : 'warning',
        subject: `listen port ${listener.port}`,
        message: `the http listener on port ${listener.port} serves ${Object.keys(listener.request_handlers ?? {}).join(', ') || 'its paths'} without TLS: passwords and files cross the network readable, unless a TLS proxy on this machine is its only client`,
        fix: `set tls: true on the listener (the hosts' certificates are used), or bind it to ip: 127.0.0.1 behind a TLS-terminating proxy`,
      })
    }

    // The same finding `audit remote --http` makes from outside (websocket-any-origin, bosh-any-origin), from the configuration.
    const web = listen.filter((listener) => listener.module === 'http' && Object.values(listener.request_handlers ?? {}).some((handler) => handler === 'ejabberd_http_ws' || handler === 'mod_bosh'))
    if (web.length > 0 && config.settings.websocket_origin.length === 0) {
      findings.push({
        id: 'web-any-origin',
        severity: 'warning',
        subject: 'websocket_origin',
        message: `websocket_origin is empty: WebSocket and BOSH on port ${web.map((listener) => listener.port).join(', ')} serve a page from any web site, so any page a user visits can open XMPP sessions here`,
        fix: 'list the origins of your web clients, e.g. websocket_origin: ["https://chat.example.org"]',
      })
    }

    // A plain listener whose STARTTLS is not "required" leaves encryption to c2s_require_encryption (src/server/c2s.ts).
    const lax = listen.filter((listener) => !listener.tls && listener.starttls !== 'required')
    for (const host of config.hosts) {
      const settings = config.forHost(host)
      if (settings.c2s_require_encryption || lax.length === 0) continue
      const ports = lax.map((listener) => `${listener.port} (starttls: ${listener.starttls})`).join(', ')
      const disabled = lax.some((listener) => listener.starttls === 'disabled')
      findings.push({
        id: 'c2s-encryption-optional',
        severity: disabled ? 'critical' : 'warning',
        subject: host,
        message: `c2s_require_encryption is off and port ${ports} does not require STARTTLS: clients may ${disabled ? 'only ' : ''}talk unencrypted, a man in the middle can strip STARTTLS`,
        fix: `set c2s_require_encryption: true${config.hostOverrides[host]?.c2s_require_encryption === false ? ` under host_config.${host}` : ''}, or starttls: required on the listener`,
      })
      if (settings.allow_unencrypted_plain_auth && settings.disable_sasl_mechanisms.includes('PLAIN') === false) {
        findings.push({
          id: 'plain-without-tls',
          severity: 'critical',
          subject: host,
          message: 'allow_unencrypted_plain_auth is on and encryption is optional: PLAIN is offered before TLS, so passwords cross the network in clear',
          fix: 'set allow_unencrypted_plain_auth: false and c2s_require_encryption: true',
        })
      }
    }

    if (tls.min_version === 'TLSv1' || tls.min_version === 'TLSv1.1') {
      findings.push({
        id: 'tls-min-version',
        severity: 'warning',
        subject: 'tls.min_version',
        message: `tls.min_version is ${tls.min_version}: TLS 1.0 and 1.1 are deprecated (RFC 8996) and cap the grade of "audit remote" at B`,
        fix: 'set tls.min_version: TLSv1.2',
      })
    }

    const base = configDirectory(config)
    const policy = await expandCipherPolicy(tls.ciphers, tls.min_version, readableDhParams(tls.dhparam, base))
    if (!policy.valid) {
      findings.push({id: 'cipher-string-invalid', severity: 'critical', subject: 'tls.ciphers', message: `OpenSSL refuses tls.ciphers "${tls.ciphers}": ${policy.reason}; the server cannot start with it`, fix: 'set tls.ciphers to "default", or to suites "openssl ciphers -v STRING" lists'})
    } else {
      findings.push(...cipherFindings(policy.tls12, 'tls.ciphers'))
    }

    if (!(FFDHE_GROUPS as readonly string[]).includes(tls.dhparam)) {
      const file = path.resolve(base, tls.dhparam)
      try {
        const check = await checkDhParams(file)
        for (const finding of check.findings.filter((entry) => entry.id !== 'dh-known-group' && entry.id !== 'dh-custom-group')) findings.push({...finding, severity: fromTlsSeverity(finding.severity), subject: 'tls.dhparam'})
      } catch (error) {
        findings.push({id: 'dhparam-unreadable', severity: 'critical', subject: 'tls.dhparam', message: `${file} cannot be used: ${error instanceof Error ? error.message : String(error)}`, fix: 'set tls.dhparam to ffdhe3072, or write the file with "xmppctl dhparam generate"'})
      }
    }

    return findings
  },
}
