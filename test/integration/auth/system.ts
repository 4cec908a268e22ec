/**
 * Real system pieces for auth tests: a private PAM service (pam_pwdfile with a
 * generated password file) and a saslauthd on a private socket directory.
 * Everything is removed, and every daemon killed by pid, when the test ends.
 */
import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

export const PASSWORD = 'pa:ss wörd€'

type Context = {after(fn: () => unknown): void; skip(message?: string): void}

/** Why these tests cannot run here, or undefined. */
export function systemTestsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to write /etc/pam.d'
  if (!existsSync('/lib/x86_64-linux-gnu/security/pam_pwdfile.so') && !existsSync('/usr/lib/x86_64-linux-gnu/security/pam_pwdfile.so') && !existsSync('/lib/security/pam_pwdfile.so')) {
    try {
      execFileSync('sh', ['-c', 'ls /lib/*/security/pam_pwdfile.so /usr/lib/*/security/pam_pwdfile.so 2>/dev/null | grep -q .'])
    } catch {
      return 'pam_pwdfile is not installed (apt install libpam-pwdfile)'
    }
  }

  return undefined
}

export interface PamService {
  name: string
  dir: string
  pwfile: string
}

/** /etc/pam.d/xmppctl-test-RANDOM: pam_pwdfile for alice, then `account` as given. */
export function pamService(t: Context, options: {account?: 'pam_permit.so' | 'pam_deny.so'; pwfile?: string; auth?: string} = {}): PamService {
  const dir = mkdtempSync(path.join(tmpdir(), 'xmppctl-pam-'))
  chmodSync(dir, 0o755)
  const pwfile = path.join(dir, 'passwords')
  const hash = execFileSync('openssl', ['passwd', '-6', '-stdin'], {input: `${PASSWORD}\n`, encoding: 'utf8'}).trim()
  writeFileSync(pwfile, `alice:${hash}\n`, {mode: 0o600})
  const name = `xmppctl-test-${randomBytes(4).toString('hex')}`
  const auth = options.auth ?? `auth required pam_pwdfile.so pwdfile=${options.pwfile ?? pwfile}`
  writeFileSync(`/etc/pam.d/${name}`, `${auth}\naccount required ${options.account ?? 'pam_permit.so'}\n`)
  t.after(() => {
    rmSync(`/etc/pam.d/${name}`, {force: true})
    rmSync(dir, {recursive: true, force: true})
  })
  return {name, dir, pwfile}
}

export interface Saslauthd {
  socketDir: string
  socket: string
  process: ChildProcess
}

/** saslauthd -a pam on a private socket directory, killed by pid after the test. */
export async function startSaslauthd(t: Context): Promise<Saslauthd> {
  const socketDir = mkdtempSync(path.join(tmpdir(), 'xmppctl-saslauthd-'))
  // Its own process group: on exit saslauthd signals its whole group, which must not include us.
  const child = spawn('/usr/sbin/saslauthd', ['-a', 'pam', '-m', socketDir, '-n', '1', '-d'], {stdio: ['ignore', 'ignore', 'ignore'], detached: true})
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 2000))])
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }

    rmSync(socketDir, {recursive: true, force: true})
  })
  const socket = path.join(socketDir, 'mux')
  for (let attempt = 0; attempt < 100 && !existsSync(socket); attempt++) await new Promise((resolve) => setTimeout(resolve, 50))
  if (!existsSync(socket)) throw new Error('saslauthd did not create its socket')
  return {socketDir, socket, process: child}
}
