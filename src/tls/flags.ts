/**
 * Flag builders for the cert and dhparam commands, so each is spelled one
 * way. (`failOn` is meant for audit too: it can move to src/cli/flags.ts.)
 */
import {Flags} from '@oclif/core'

import {FAIL_ON, type FailOn} from './findings.js'
import {DEFAULT_KEY_SPEC, KEY_SPECS} from './keys.js'

export const tlsFlags = {
  key: () =>
    Flags.string({
      description: `key type: ${KEY_SPECS.join(', ')}. ec:p256 (ECDSA P-256, the default) works with every current client; rsa:3072 for very old ones; ed25519 only for TLS 1.3 clients on OpenSSL ≥ 1.1.1, GnuTLS ≥ 3.6 or Java ≥ 15 (e.g. Gajim, Dino, Profanity): Apple's TLS stack (Monal, Siskin), Windows SChannel and many Android clients refuse it`,
      default: DEFAULT_KEY_SPEC,
      helpValue: 'TYPE',
    }),
  subdomains: () =>
    Flags.string({
      description: 'component subdomains to name too, comma-separated: "conference,upload" adds conference.HOST and upload.HOST',
      helpValue: 'LABELS',
    }),
  dnsOnly: () =>
    Flags.boolean({
      description: 'name the host by dNSName only, without XmppAddr and SRVName, as public CAs do: ejabberd 23.01 refuses a federating peer whose CA-signed certificate carries an XmppAddr',
    }),
  failOn: () =>
    Flags.custom<FailOn>({
      description: 'exit 1 when a finding at or above this severity is found (info < notice < warning < error; none: never)',
      options: [...FAIL_ON],
      default: 'error',
      helpValue: 'SEVERITY',
    })(),
}

export function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
}
