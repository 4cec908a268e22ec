/**
 * Who the server runs as, and what that user may do with a file: the POSIX
 * permission rules (owner bits, else group bits, else other bits; root
 * passes every read and write check) applied to real `lstat` results.
 */
import {execFileSync} from 'node:child_process'
import {type Stats, lstatSync, statSync} from 'node:fs'
import path from 'node:path'

import {UsageError} from './errors.js'

export interface SystemUser {
  name: string
  uid: number
  gid: number
  /** Every group the user is in, the primary one included. */
  groups: number[]
}

function id(args: string[]): string {
  return execFileSync('id', args, {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']}).trim()
}

/** The user named (or numbered) `name`, through `id(1)` so that NSS (LDAP, sssd) users resolve too. */
export function resolveUser(name: string): SystemUser {
  try {
    return {
      name: id(['-un', name]),
      uid: Number(id(['-u', name])),
      gid: Number(id(['-g', name])),
      groups: id(['-G', name]).split(/\s+/).map(Number),
    }
  } catch {
    throw new UsageError(`no such user "${name}"`, 'give the user the server runs as with --as, e.g. --as xmpp')
  }
}

/** The user running this process. */
export function currentUser(): SystemUser {
  const uid = process.getuid?.() ?? 0
  let name = String(uid)
  try {
    name = id(['-un'])
  } catch {}

  return {name, uid, gid: process.getgid?.() ?? 0, groups: process.getgroups?.() ?? []}
}

export type Access = 'r' | 'w' | 'x'
const BITS: Record<Access, number> = {r: 4, w: 2, x: 1}

/** Whether `user` has `access` to a file with these stats (no ACLs). */
export function allows(user: SystemUser, stats: Pick<Stats, 'uid' | 'gid' | 'mode' | 'isDirectory'>, access: Access): boolean {
  if (user.uid === 0) return access !== 'x' || stats.isDirectory() || (stats.mode & 0o111) !== 0
  const bit = BITS[access]
  if (stats.uid === user.uid) return ((stats.mode >> 6) & bit) !== 0
  if (user.groups.includes(stats.gid)) return ((stats.mode >> 3) & bit) !== 0
  return (stats.mode & bit) !== 0
}

export function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0')
}

export function lstatOrUndefined(file: string): Stats | undefined {
  try {
    return lstatSync(file)
  } catch {
    return undefined
  }
}

export function statOrUndefined(file: string): Stats | undefined {
  try {
    return statSync(file)
  } catch {
    return undefined
  }
}

/** `/a/b/c` → `/a/b`, `/a`, `/`: the directories whose writers could replace `file`. */
export function ancestors(file: string): string[] {
  const result: string[] = []
  let dir = path.dirname(path.resolve(file))
  for (;;) {
    result.push(dir)
    const parent = path.dirname(dir)
    if (parent === dir) return result
    dir = parent
  }
}

/** Whether `user` can reach `file`: search (x) on every directory above it. The first one that stops it, if any. */
export function blockingDirectory(user: SystemUser, file: string): string | undefined {
  for (const dir of ancestors(file).reverse()) {
    const stats = statOrUndefined(dir)
    if (!stats) return dir
    if (!allows(user, stats, 'x')) return dir
  }

  return undefined
}

/** The name of a group id, for messages ("group sasl"); the number when unknown. */
export function groupName(gid: number): string {
  try {
    return execFileSync('getent', ['group', String(gid)], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']}).split(':')[0] || String(gid)
  } catch {
    return String(gid)
  }
}

export function userName(uid: number): string {
  try {
    return execFileSync('getent', ['passwd', String(uid)], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']}).split(':')[0] || String(uid)
  } catch {
    return String(uid)
  }
}
