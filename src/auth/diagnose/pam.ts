/**
 * `test-auth pam`: the helper, the service file in /etc/pam.d, whether
 * pam_unix could read /etc/shadow, and the conversation's result, telling an
 * authentication failure from an account failure from a module error.
 */
import {accessSync, constants, existsSync, readFileSync} from 'node:fs'

import {silentAuthLog} from '../chain.js'
import {PAM_HELPER_MISSING_HINT, PamBackend, type PamReply} from '../backends/pam.js'
import {UnavailableError} from '../../errors.js'
import {type BackendDiagnosis, Recorder, fail, info, ok, skip, warn} from './report.js'
import type {DiagnoseInput} from './types.js'

/** The modules a service's stack uses, following @include (one level deep is what Debian uses). */
export function pamModules(service: string, seen = new Set<string>()): string[] {
  if (seen.has(service)) return []
  seen.add(service)
  let text: string
  try {
    text = readFileSync(`/etc/pam.d/${service}`, 'utf8')
  } catch {
    return []
  }

  const modules: string[] = []
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim()
    if (!line) continue
    const include = /^@include\s+(\S+)/.exec(line)
    if (include) {
      modules.push(...pamModules(include[1], seen))
      continue
    }

    const module = line.split(/\s+/).find((word) => /\.so$/.test(word) || /^pam_\w+/.test(word))
    if (module) modules.push(module.replace(/^.*\//, ''))
  }

  return modules
}

export async function diagnosePam(input: DiagnoseInput): Promise<BackendDiagnosis> {
  const settings = input.config.forHost(input.host)
  const recorder = new Recorder()
  const jid = input.username === undefined ? undefined : `${input.username}@${settings.host}`
  const finish = (verdict: Parameters<Recorder['finish']>[2]) => recorder.finish('pam', settings.host, verdict, jid)
  const service = settings.pam_service
  const backend = new PamBackend({host: settings.host, service, userinfotype: settings.pam_userinfotype, helper: input.pamHelper, log: silentAuthLog})
  recorder.add('configuration', 'configuration', ok(`pam_service ${service}, pam_userinfotype ${settings.pam_userinfotype}`))

  const helper = await recorder.step('helper', 'PAM helper', () => {
    const problem = backend.helperProblem()
    return problem ? fail(problem, 'xmppctl was built without the libpam headers', PAM_HELPER_MISSING_HINT) : ok(`${backend.helper} is built`)
  })

  const file = `/etc/pam.d/${service}`
  const serviceStep = await recorder.step('service-file', 'service file', () =>
    existsSync(file)
      ? ok(`${file} exists; modules: ${pamModules(service).join(', ') || '(none)'}`)
      : fail(`${file} does not exist, so PAM uses /etc/pam.d/other (which denies everything on Debian)`, 'the service file is missing', `create ${file}, or set pam_service to an existing service`),
  )

  const modules = serviceStep.status === 'ok' ? pamModules(service) : []
  if (modules.includes('pam_unix.so')) {
    await recorder.step('shadow', '/etc/shadow', () => {
      try {
        accessSync('/etc/shadow', constants.R_OK)
        return ok('the service uses pam_unix, and this process can read /etc/shadow')
      } catch {
        return warn(
          'the service uses pam_unix, and this process cannot read /etc/shadow',
          'pam_unix can then check only the password of the user this process runs as (through unix_chkpwd)',
          'add the server\'s user to group shadow (adduser xmpp shadow), or use another PAM module',
        )
      }
    })
  }

  if (helper.status === 'fail') return finish('unavailable')
  if (input.username === undefined || input.password === undefined) {
    recorder.add('exchange', 'PAM conversation', skip('no test account given: pass a JID and a password to try one'))
    return finish(serviceStep.status === 'fail' ? 'misconfigured' : 'reachable')
  }

  let verdict: Parameters<Recorder['finish']>[2] = 'unavailable'
  try {
    await recorder.step('exchange', `PAM conversation for ${backend.pamUser(input.username)}`, async () => {
      let reply: PamReply
      try {
        reply = await backend.authenticate(input.username!, input.password!)
      } catch (error) {
        if (error instanceof UnavailableError) return fail(error.message, undefined, error.hint)
        throw error
      }

      if (reply.ok) {
        verdict = 'accepted'
        return ok('pam_authenticate and pam_acct_mgmt succeeded')
      }

      const what = `${reply.name} "${reply.text}"`
      if (reply.stage === 'authenticate' && ['PAM_AUTH_ERR', 'PAM_USER_UNKNOWN', 'PAM_CRED_INSUFFICIENT', 'PAM_MAXTRIES'].includes(reply.name)) {
        verdict = 'rejected'
        return info(`authentication failure: pam_authenticate returned ${what} (wrong password or unknown user)`)
      }

      if (reply.stage === 'acct_mgmt') {
        verdict = 'disabled'
        return warn(`account failure: the password is right, but pam_acct_mgmt returned ${what}`, 'the account is expired, locked, or refused by an account module (pam_access, pam_time, …)', 'check the account (chage -l USER) and the "account" lines of the service file')
      }

      return fail(
        `a module error: pam_${reply.stage} returned ${what}`,
        'a PAM module failed (a missing file, a wrong option, a module that is not installed)',
        `the module's own message is in the system log: journalctl -t ${service} or /var/log/auth.log`,
      )
    })
  } finally {
    await backend.close()
  }

  return finish(verdict)
}
