/**
 * The configuration file: who may change it (it names the programs the
 * server runs and the files it trusts), and who may read it when it holds
 * secrets.
 */
import {readFileSync} from 'node:fs'
import {parseDocument, isMap, isScalar, isSeq, type Node} from 'yaml'

import type {AuditFinding} from '../findings.js'
import {lstatOrUndefined, octal} from '../../system.js'
import type {Check} from './types.js'

/** Keys whose value is a secret wherever they appear (`ldap_password`, `*_secret`, …). */
const SECRET_KEY = /(^|_)(password|secret|private_key|passphrase)$/i

/**
 * What secrets a configuration text holds: PEM private keys anywhere in it
 * (also in comments), and values of secret-named keys. The current schema
 * has no such key (no `ldap_password`: the ldap backend is not built), so
 * today only pasted keys can be found; the key rule is there for plugins'
 * settings and what comes next.
 */
export function secretsIn(text: string): string[] {
  const found: string[] = []
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) found.push('a PEM private key')
  const visit = (node: Node | null | undefined, where: string) => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : ''
        const value = pair.value as Node | null
        if (SECRET_KEY.test(key) && isScalar(value) && value.value !== null && String(value.value) !== '') found.push(`${where}${key}`)
        visit(value, `${where}${key}.`)
      }
    } else if (isSeq(node)) {
      for (const [index, item] of node.items.entries()) visit(item as Node, `${where}${index}.`)
    }
  }

  try {
    visit(parseDocument(text).contents, '')
  } catch {}

  return found
}

export const configFileCheck: Check = {
  id: 'config-file',
  description: 'the configuration file: writable by others, or readable by others while it holds secrets',
  findings: ['config-writable', 'config-secrets-readable'],
  async run({config}) {
    const file = config.file
    const stats = file ? lstatOrUndefined(file) : undefined
    if (!file || !stats) return []
    const findings: AuditFinding[] = []
    if ((stats.mode & 0o022) !== 0) {
      const world = (stats.mode & 0o002) !== 0
      const target = stats.mode & ~0o022 & 0o7777
      findings.push({
        id: 'config-writable',
        severity: world ? 'critical' : 'warning',
        subject: file,
        message: `mode ${octal(stats.mode)}: ${world ? 'any user' : 'its group'} can change the configuration, e.g. point extauth_program at their own program`,
        fix: `chmod ${octal(target)} ${file}`,
        repair: {kind: 'chmod', path: file, mode: target},
      })
    }

    let text = ''
    try {
      text = readFileSync(file, 'utf8')
    } catch {}

    const secrets = secretsIn(text)
    if (secrets.length > 0 && (stats.mode & 0o044) !== 0) {
      const world = (stats.mode & 0o004) !== 0
      const target = stats.mode & ~(world ? 0o007 : 0o070) & 0o7777
      findings.push({
        id: 'config-secrets-readable',
        severity: world ? 'critical' : 'warning',
        subject: file,
        message: `holds ${secrets.join(', ')} and has mode ${octal(stats.mode)}: ${world ? 'every user on this machine' : 'its group'} can read ${secrets.length === 1 ? 'it' : 'them'}`,
        fix: `chmod ${octal(target)} ${file}, or move the secret into a file only the server user can read`,
        repair: {kind: 'chmod', path: file, mode: target},
      })
    }

    return findings
  },
}
