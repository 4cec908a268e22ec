/** Who this process is and who owns a file, in names an operator knows. */
import {readFileSync, type Stats} from 'node:fs'
import {userInfo} from 'node:os'

function table(file: string): Map<number, {name: string; members: string[]}> {
  const map = new Map<number, {name: string; members: string[]}>()
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const fields = line.split(':')
      if (fields.length >= 3 && /^\d+$/.test(fields[2])) map.set(Number(fields[2]), {name: fields[0], members: (fields[3] ?? '').split(',').filter(Boolean)})
    }
  } catch {}

  return map
}

export function userName(uid: number): string {
  return table('/etc/passwd').get(uid)?.name ?? String(uid)
}

export function groupName(gid: number): string {
  return table('/etc/group').get(gid)?.name ?? String(gid)
}

export interface Identity {
  uid: number
  gids: number[]
  user: string
  groups: string[]
}

export function currentIdentity(): Identity {
  const uid = process.getuid?.() ?? -1
  const gids = [...new Set([process.getegid?.() ?? -1, ...(process.getgroups?.() ?? [])])]
  let user = String(uid)
  try {
    user = userInfo().username
  } catch {}

  return {uid, gids, user, groups: gids.map((gid) => groupName(gid))}
}

/** Whether `identity` has permission `bits` (4 r, 2 w, 1 x) on a file with `stat`, by the classic owner/group/other rule. */
export function permits(stat: Stats, identity: Identity, bits: number): boolean {
  if (identity.uid === 0) return bits !== 1 || (stat.mode & 0o111) !== 0 || stat.isDirectory()
  if (stat.uid === identity.uid) return ((stat.mode >> 6) & bits) === bits
  if (identity.gids.includes(stat.gid)) return ((stat.mode >> 3) & bits) === bits
  return (stat.mode & bits) === bits
}

export function describeOwnership(stat: Stats): string {
  return `${userName(stat.uid)}:${groupName(stat.gid)} mode ${(stat.mode & 0o7777).toString(8).padStart(4, '0')}`
}
