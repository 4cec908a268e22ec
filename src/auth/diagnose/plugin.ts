/**
 * `xmppctl test-auth METHOD` for a plugin's backend: which plugin provides
 * it, whether the keys it needs are set, the plugin's own steps
 * (reachability, TLS, …), then the credentials through the same adapter the
 * server uses — so what test-auth says works is what the server does.
 */
import {type BackendDiagnosis, Recorder, type StepResult, fail, info, ok, skip, warn} from './report.js'
import type {DiagnoseInput} from './types.js'
import {PluginBackendAdapter, errorText, pluginContext} from '../backends/plugin.js'
import type {PluginDiagnoseContext, PluginStepResult} from '../../plugins/api.js'
import type {RegisteredBackend} from '../../config/plugins.js'
import {silentAuthLog} from '../chain.js'
import type {AuthOutcome} from '../../sasl/session.js'

const STATUSES = new Set(['ok', 'info', 'warn', 'fail', 'skip'])

function asStep(result: PluginStepResult | undefined): StepResult {
  if (!result || !STATUSES.has(result.status)) return fail('the plugin returned a step without a valid status')
  return {
    status: result.status,
    detail: String(result.detail ?? ''),
    ...(result.cause ? {cause: String(result.cause)} : {}),
    ...(result.fix ? {fix: String(result.fix)} : {}),
  }
}

export async function diagnosePlugin(registered: RegisteredBackend, input: DiagnoseInput): Promise<BackendDiagnosis> {
  const {method, plugin} = registered
  const recorder = new Recorder()
  const jid = input.username === undefined ? undefined : `${input.username}@${input.host}`
  const finish = (verdict: BackendDiagnosis['verdict']) => recorder.finish(method, input.host, verdict, jid)
  const settings = input.config.forHost(input.host)
  const values = settings as unknown as Record<string, unknown>

  recorder.add('plugin', 'plugin', ok(`provided by ${plugin.name} ${plugin.version}${registered.description ? `: ${registered.description}` : ''}`))
  if (!settings.auth_method.includes(method)) {
    recorder.add('configured', 'auth_method', info(`${method} is not in auth_method of ${input.host} (${settings.auth_method.join(', ')}): the server does not use it there`))
  }

  const missing = registered.requiredKeys.filter((key) => values[key] === undefined)
  if (missing.length > 0) {
    recorder.add('settings', 'settings', fail(`${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set`, `the ${method} backend needs ${missing.join(' and ')}`, `set ${missing.map((key) => `${key} (${registered.keys[key]?.description ?? ''})`).join(', ')}`))
    return finish('misconfigured')
  }

  const keys = Object.keys(registered.keys)
  if (keys.length > 0) recorder.add('settings', 'settings', ok(`${keys.filter((key) => values[key] !== undefined).length} of ${keys.length} keys set (${keys.join(', ')})`))

  const context = pluginContext(settings, input.baseDir, silentAuthLog)
  const adapter = new PluginBackendAdapter(registered, context)
  try {
    if (adapter.creationError) {
      recorder.add('create', 'backend', fail(adapter.creationError, undefined, `report it to the authors of ${plugin.name}, or remove ${method} from auth_method`))
      return finish('unavailable')
    }

    if (registered.definition.diagnose) {
      let failedStep = false
      const diagnoseContext: PluginDiagnoseContext = {
        ...context,
        backend: adapter.inner!,
        step: async (id, title, run) => {
          const step = await recorder.step(String(id), String(title), async () => {
            try {
              return asStep(await run())
            } catch (error) {
              return fail(`the plugin's step failed: ${errorText(error)}`)
            }
          })
          if (step.status === 'fail') failedStep = true
          const {status, detail, cause, fix} = step
          return {status, detail, ...(cause ? {cause} : {}), ...(fix ? {fix} : {})}
        },
      }
      let result
      try {
        result = await registered.definition.diagnose(diagnoseContext)
      } catch (error) {
        recorder.add('plugin-diagnose', 'plugin checks', fail(`the plugin's diagnostics failed: ${errorText(error)}`))
        return finish('unavailable')
      }

      if (result?.verdict === 'unavailable' || result?.verdict === 'misconfigured') return finish(result.verdict)
      if (failedStep && input.password === undefined) return finish('unavailable')
    }

    const capabilities = await recorder.step('capabilities', 'can serve', async () => {
      const found = await adapter.capabilities()
      return found.unavailable ? fail(found.unavailable) : found.plain ? ok('plaintext passwords (PLAIN, over TLS)') : warn('it says it can serve nothing')
    })
    if (capabilities.status === 'fail') return finish('unavailable')

    if (input.username === undefined) return finish('reachable')

    if (input.password === undefined) {
      recorder.add('check-password', 'password', skip('no password given (use --password-stdin)'))
    } else {
      let answer = {result: 'unavailable', reason: 'not asked'} as AuthOutcome
      await recorder.step('check-password', 'password', async () => {
        answer = await adapter.checkPassword(input.username!, input.password!)
        switch (answer.result) {
          case 'accepted': {
            return ok(`${jid} is accepted`)
          }

          case 'rejected': {
            return fail(`${jid} is rejected: ${answer.reason}`, 'the password is wrong or the user does not exist there', `check the account in the service behind the ${method} backend`)
          }

          case 'disabled': {
            return fail(`${jid} is disabled: ${answer.reason}`)
          }

          default: {
            return fail(`the backend could not be asked: ${answer.reason}`)
          }
        }
      })
      const verdict = answer.result === 'unsupported' ? 'unavailable' : answer.result
      if (verdict !== 'accepted') {
        await userExistsStep(recorder, adapter, input.username, jid!)
        return finish(verdict)
      }
    }

    await userExistsStep(recorder, adapter, input.username, jid!)
    return finish(input.password === undefined ? 'reachable' : 'accepted')
  } finally {
    await adapter.close()
  }
}

async function userExistsStep(recorder: Recorder, adapter: PluginBackendAdapter, username: string, jid: string): Promise<void> {
  await recorder.step('user-exists', 'user exists', async () => {
    try {
      return (await adapter.userExists(username)) ? ok(`${jid} exists`) : info(`${jid} does not exist there`)
    } catch (error) {
      const message = errorText(error)
      return message.includes('cannot') ? skip(message) : fail(message)
    }
  })
}
