/**
 * The data directory, the store and the certificates: who owns them, who
 * else may read or write them, symlinks leading out of the tree, and
 * parent directories through which someone else could swap the tree.
 */
import {type Stats, readFileSync, readdirSync, realpathSync} from 'node:fs'
import path from 'node:path'

import {certificateFiles} from '../../tls/check.js'
import {certsDir} from '../../tls/files.js'
import {keyFileFor} from '../../tls/inspect.js'
import type {AuditFinding, AuditSeverity} from '../findings.js'
import {type SystemUser, allows, ancestors, lstatOrUndefined, octal, statOrUndefined, userName} from '../../system.js'
import type {AuditContext, Check} from './types.js'

/** SQLite's files: the store and its write-ahead log and shared memory (src/store/sqlite). */
const STORE_FILES = ['accounts.sqlite', 'accounts.sqlite-wal', 'accounts.sqlite-shm']
const MAX_ENTRIES = 10_000
const MAX_DEPTH = 6

/** Files holding private keys: the certs directory and everything `certfiles` names, with the keys found beside certificates. */
export function privateKeyFiles(context: AuditContext): string[] {
  const candidates = new Set<string>()
  const dir = certsDir(context.config)
  try {
    for (const name of readdirSync(dir)) candidates.add(path.join(dir, name))
  } catch {}

  for (const file of certificateFiles(context.config)) {
    candidates.add(file)
    const key = keyFileFor(file)
    if (key) candidates.add(key)
  }

  return [...candidates].filter((file) => {
    const stats = lstatOrUndefined(file)
    if (!stats?.isFile()) return false
    if (/\.key$/i.test(file)) return true
    try {
      return readFileSync(file, 'utf8').includes('PRIVATE KEY-----')
    } catch {
      return false
    }
  }).sort()
}

function ownerFinding(file: string, stats: Stats, context: AuditContext): AuditFinding | undefined {
  const {user} = context
  if (stats.uid === user.uid) return undefined
  return {
    id: 'file-owner',
    severity: 'warning',
    subject: file,
    message: `owned by ${userName(stats.uid)}, not by ${user.name}, the user the server runs as`,
    fix: `chown ${user.name}: ${file}`,
    ...(context.root ? {repair: {kind: 'chown', path: file, uid: user.uid, gid: user.gid}} : {}),
  }
}

/** A secret file (store, key): no access at all for group or others. */
function secretFileFindings(file: string, stats: Stats, what: string, id: string): AuditFinding[] {
  const extra = stats.mode & 0o077
  if (extra === 0) return []
  const world = (stats.mode & 0o007) !== 0
  const severity: AuditSeverity = world ? 'critical' : 'warning'
  const target = stats.mode & 0o7700
  return [{
    id,
    severity,
    subject: file,
    message: `${what} has mode ${octal(stats.mode)}: ${world ? 'every user on this machine' : 'its group'} can ${stats.mode & 0o022 ? 'read or change' : 'read'} it`,
    fix: `chmod ${octal(target)} ${file}`,
    repair: {kind: 'chmod', path: file, mode: target},
  }]
}

/** A directory of the data tree: 0700 or 0750 at most. */
function directoryFindings(dir: string, stats: Stats): AuditFinding[] {
  if ((stats.mode & 0o027) === 0) return []
  const worldWritable = (stats.mode & 0o002) !== 0
  const target = stats.mode & ~0o027 & 0o7777
  return [{
    id: 'dir-mode',
    severity: worldWritable ? 'critical' : 'warning',
    subject: dir,
    message: `directory has mode ${octal(stats.mode)}: ${worldWritable ? 'anyone can create, replace or delete files in it' : stats.mode & 0o020 ? 'its group can create, replace or delete files in it' : 'every user on this machine can list and enter it'}`,
    fix: `chmod ${octal(target)} ${dir}`,
    repair: {kind: 'chmod', path: dir, mode: target},
  }]
}

function within(root: string, target: string): boolean {
  const relative = path.relative(root, target)
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative))
}

/** Directories above the data directory that someone other than root or the server user can write to without the sticky bit. */
function parentFindings(dataDir: string, user: SystemUser): AuditFinding[] {
  const findings: AuditFinding[] = []
  for (const dir of ancestors(path.join(dataDir, 'x')).slice(1)) {
    const stats = lstatOrUndefined(dir)
    if (!stats) continue
    const sticky = (stats.mode & 0o1000) !== 0
    if ((stats.mode & 0o002) !== 0 && !sticky) {
      findings.push({
        id: 'parent-writable',
        severity: 'critical',
        subject: dir,
        message: `a parent of the data directory is world-writable (mode ${octal(stats.mode)}) without the sticky bit: anyone can rename the data directory and put their own in its place`,
        fix: `chmod o-w ${dir}, or move data_dir elsewhere`,
      })
    } else if (stats.uid !== 0 && stats.uid !== user.uid && (stats.mode & 0o200) !== 0) {
      findings.push({
        id: 'parent-owner',
        severity: 'warning',
        subject: dir,
        message: `a parent of the data directory belongs to ${userName(stats.uid)}, who can replace the data directory`,
        fix: `move data_dir under a directory owned by root or ${user.name}`,
      })
    }
  }

  return findings
}

export const filesCheck: Check = {
  id: 'files',
  description: 'data directory, store and certificates: owner, mode, symlinks leaving the tree, writable parents',
  findings: ['data-dir-missing', 'file-owner', 'dir-mode', 'store-mode', 'key-mode', 'upload-mode', 'symlink-escape', 'parent-writable', 'parent-owner', 'file-mode', 'key-unreadable'],
  async run(context) {
    const {config, user} = context
    const dataDir = config.dataDir
    const findings: AuditFinding[] = []
    const top = lstatOrUndefined(dataDir)
    if (!top) {
      return [{id: 'data-dir-missing', severity: 'info', subject: dataDir, message: 'the data directory does not exist yet: nothing to check', fix: 'nothing to do; "xmppctl start" or "xmppctl user add" creates it with mode 0700'}]
    }

    findings.push(...parentFindings(dataDir, user))
    const realRoot = realpathSync(dataDir)
    const keys = new Set(privateKeyFiles(context))
    let seen = 0
    const walk = (entry: string, stats: Stats, depth: number) => {
      if (++seen > MAX_ENTRIES) return
      if (stats.isSymbolicLink()) {
        let target: string
        try {
          target = realpathSync(entry)
        } catch {
          return
        }

        if (!within(realRoot, target)) {
          findings.push({
            id: 'symlink-escape',
            severity: 'warning',
            subject: entry,
            message: `a symlink leading out of the data directory, to ${target}: permissions there are not checked, and whoever controls that path controls this file`,
            fix: `replace the link with the file itself (cp --remove-destination "$(readlink -f ${entry})" ${entry})`,
          })
        }

        return
      }

      const owner = ownerFinding(entry, stats, context)
      if (owner) findings.push(owner)
      if (stats.isDirectory()) {
        findings.push(...directoryFindings(entry, stats))
        if (depth >= MAX_DEPTH) return
        let names: string[] = []
        try {
          names = readdirSync(entry).sort()
        } catch {}

        for (const name of names) {
          const child = path.join(entry, name)
          const childStats = lstatOrUndefined(child)
          if (childStats) walk(child, childStats, depth + 1)
        }

        return
      }

      if (path.dirname(entry) === dataDir && STORE_FILES.includes(path.basename(entry))) findings.push(...secretFileFindings(entry, stats, 'the account store', 'store-mode'))
      // Whoever reads the secret can make upload URLs (XEP-0363 slots); uploads are the accounts' files.
      else if (entry === path.join(dataDir, 'upload.secret')) findings.push(...secretFileFindings(entry, stats, 'the upload URL secret', 'upload-mode'))
      else if (within(path.join(dataDir, 'upload'), entry)) findings.push(...secretFileFindings(entry, stats, 'an uploaded file', 'upload-mode'))
      else if (keys.has(entry)) {
        findings.push(...secretFileFindings(entry, stats, 'a private key', 'key-mode'))
        keys.delete(entry)
      } else if ((stats.mode & 0o002) !== 0) {
        findings.push({id: 'file-mode', severity: 'warning', subject: entry, message: `world-writable (mode ${octal(stats.mode)})`, fix: `chmod o-w ${entry}`, repair: {kind: 'chmod', path: entry, mode: stats.mode & ~0o002 & 0o7777}})
      }
    }

    walk(dataDir, top, 0)
    // Keys named by certfiles outside the data directory.
    for (const key of keys) {
      const stats = lstatOrUndefined(key)
      if (!stats) continue
      const owner = ownerFinding(key, stats, context)
      if (owner && stats.uid !== 0) findings.push(owner)
      findings.push(...secretFileFindings(key, stats, 'a private key', 'key-mode'))
    }

    for (const key of privateKeyFiles(context)) {
      const stats = statOrUndefined(key)
      if (stats && !allows(user, stats, 'r')) {
        findings.push({id: 'key-unreadable', severity: 'critical', subject: key, message: `${user.name}, the user the server runs as, cannot read this private key (mode ${octal(stats.mode)}, owner ${userName(stats.uid)})`, fix: `chown ${user.name}: ${key}, or make it readable by a group ${user.name} is in (chmod 640)`})
      }
    }

    return findings
  },
}
