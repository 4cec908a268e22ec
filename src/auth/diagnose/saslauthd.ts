/**
 * `test-auth saslauthd`: the socket and its directory (present? who may
 * connect?), the exchange, saslauthd's answer, and the service name.
 */
import {existsSync, readFileSync, readdirSync, statSync} from 'node:fs'
import path from 'node:path'

import {SaslauthdError, askSaslauthd} from '../backends/saslauthd.js'
import {type BackendDiagnosis, Recorder, fail, info, ok, warn} from './report.js'
import {currentIdentity, describeOwnership, groupName, permits} from './system.js'
import type {DiagnoseInput} from './types.js'

/** The `-m` directories of running saslauthd processes, read from /proc. */
export function runningSaslauthd(): Array<{pid: number; socketDir: string; mechanism?: string}> {
  const found: Array<{pid: number; socketDir: string; mechanism?: string}> = []
  let entries: string[]
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name))
  } catch {
    return found
  }

  for (const pid of entries) {
    let argv: string[]
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    } catch {
      continue
    }

    if (!argv[0] || path.basename(argv[0]) !== 'saslauthd') continue
    const option = (flag: string) => {
      const index = argv.indexOf(flag)
      return index === -1 ? undefined : argv[index + 1]
    }

    const mechanism = option('-a')
    found.push({pid: Number(pid), socketDir: option('-m') ?? '/var/run/saslauthd', ...(mechanism ? {mechanism} : {})})
  }

  return found
}

export async function diagnoseSaslauthd(input: DiagnoseInput): Promise<BackendDiagnosis> {
  const settings = input.config.forHost(input.host)
  const recorder = new Recorder()
  const jid = input.username === undefined ? undefined : `${input.username}@${settings.host}`
  const finish = (verdict: Parameters<Recorder['finish']>[2]) => recorder.finish('saslauthd', settings.host, verdict, jid)
  const socket = settings.saslauthd_socket
  const directory = path.dirname(socket)
  const service = settings.cyrus_service_name
  const realm = settings.cyrus_service_realm ?? settings.host
  recorder.add('configuration', 'configuration', ok(`saslauthd_socket ${socket}, cyrus_service_name ${service}, realm ${realm || '(empty)'}${settings.cyrus_require_provisioning ? ', cyrus_require_provisioning' : ''}`))
  const identity = currentIdentity()

  const running = runningSaslauthd()
  const runningText = running.length > 0 ? `running saslauthd: ${running.map((entry) => `pid ${entry.pid} with -m ${entry.socketDir}${entry.mechanism ? ` -a ${entry.mechanism}` : ''}`).join('; ')}` : 'no saslauthd process is running on this machine'

  const present = await recorder.step('socket', 'socket', () => {
    let dirStat
    try {
      dirStat = statSync(directory)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EACCES') return info(`cannot look into ${path.dirname(directory)}`)
      return fail(`the socket directory ${directory} does not exist; ${runningText}`, 'saslauthd is not installed or not running with this socket directory', running.length > 0 ? `set saslauthd_socket to ${path.join(running[0].socketDir, 'mux')}` : `start saslauthd with -m ${directory} (Debian: apt install sasl2-bin, START=yes in /etc/default/saslauthd)`)
    }

    if (!permits(dirStat, identity, 1)) return info(`${directory} is ${describeOwnership(dirStat)}; this process cannot look inside`)
    let socketStat
    try {
      socketStat = statSync(socket)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EACCES') return info(`${directory} is ${describeOwnership(dirStat)}; this process cannot look inside`)
      return fail(
        `${socket} does not exist; ${runningText}`,
        'is saslauthd running? it creates mux in the directory given with -m',
        running.length > 0 ? `set saslauthd_socket to ${path.join(running[0].socketDir, 'mux')}` : `start saslauthd (saslauthd -a pam -m ${directory})`,
      )
    }

    if (!socketStat.isSocket()) return fail(`${socket} is not a unix socket`, undefined, 'point saslauthd_socket at saslauthd\'s mux socket')
    return ok(`${socket} exists (${runningText})`)
  })
  if (present.status === 'fail') return finish('unavailable')

  const permissions = await recorder.step('socket-permissions', 'permissions', () => {
    const who = `this process runs as ${identity.user} (uid ${identity.uid}) with groups ${identity.groups.join(', ')}`
    const dirStat = statSync(directory)
    if (!permits(dirStat, identity, 1)) {
      const fix = dirStat.mode & 0o010 && groupName(dirStat.gid) !== String(dirStat.gid) ? `add user ${identity.user} to group ${groupName(dirStat.gid)} (adduser ${identity.user} ${groupName(dirStat.gid)}) and restart it` : `let ${identity.user} search ${directory} (chmod or group membership)`
      return fail(`EACCES: the directory ${directory} is ${describeOwnership(dirStat)}; ${who}`, `${identity.user} may not enter ${directory}`, fix)
    }

    const socketStat = statSync(socket)
    if (!permits(socketStat, identity, 2)) {
      return fail(`EACCES: ${socket} is ${describeOwnership(socketStat)}; ${who}`, `${identity.user} may not write to the socket`, `add user ${identity.user} to group ${groupName(socketStat.gid)}, or have saslauthd create the socket with a wider mode`)
    }

    return ok(`${directory} is ${describeOwnership(dirStat)}; ${who}: allowed`)
  })

  const credentials = input.username !== undefined && input.password !== undefined
  const login = credentials ? input.username! : 'xmppctl-probe-nonexistent'
  let verdict: Parameters<Recorder['finish']>[2] = 'reachable'
  let reply: Awaited<ReturnType<typeof askSaslauthd>> | undefined
  await recorder.step('exchange', credentials ? `ask saslauthd about ${jid}` : 'ask saslauthd (probe user)', async () => {
    try {
      reply = await askSaslauthd(socket, {login, password: credentials ? input.password! : 'xmppctl-probe', service, realm}, settings.saslauthd_timeout * 1000)
      return ok(`saslauthd answered ${reply.ok ? 'OK' : 'NO'}${reply.text ? ` "${reply.text}"` : ''} in ${Math.round(reply.ms)} ms`)
    } catch (error) {
      if (!(error instanceof SaslauthdError)) throw error
      verdict = 'unavailable'
      if (error.errno === 'EACCES') {
        return fail(error.message, 'permission denied on the socket or its directory', permissions.fix ?? 'see the permissions step')
      }

      if (error.errno === 'ECONNREFUSED') return fail(error.message, 'the socket exists but nobody listens: saslauthd died and left it behind', 'restart saslauthd')
      if (error.errno === 'ENOENT') return fail(error.message, 'is saslauthd running?', `start saslauthd with -m ${directory}`)
      return fail(error.message, error.bytes ? 'the reply is not saslauthd\'s protocol' : undefined, error.hint)
    }
  })

  if (reply) {
    if (credentials) verdict = reply.ok ? 'accepted' : 'rejected'
    const pamFile = `/etc/pam.d/${service}`
    const usesPam = running.some((entry) => entry.mechanism === 'pam') || running.length === 0
    if (credentials && !reply.ok) {
      recorder.add('verdict', 'verdict', info(`saslauthd said NO: "${reply.text}"`))
      if (usesPam && !existsSync(pamFile)) {
        recorder.add(
          'service-name',
          'service name',
          warn(
            `with -a pam, saslauthd uses the service name "${service}" as the PAM service, and ${pamFile} does not exist, so PAM falls back to /etc/pam.d/other`,
            'probably the wrong service name',
            `set cyrus_service_name to the PAM service that should check these passwords, or create ${pamFile}`,
          ),
        )
      }
    } else if (credentials) recorder.add('verdict', 'verdict', ok('saslauthd accepted the password'))
    if (settings.cyrus_require_provisioning && credentials) {
      const provisioned = await input.store.accountExists(settings.host, input.username!)
      recorder.add('provisioning', 'provisioning', provisioned ? ok(`${jid} exists in the internal store`) : fail(`${jid} is not in the internal store`, 'cyrus_require_provisioning is on', `create it with "xmppctl user add ${jid}"`))
      if (!provisioned && verdict === 'accepted') verdict = 'rejected'
    }
  }

  return finish(verdict)
}

