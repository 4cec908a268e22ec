/** `test-auth internal` and `test-auth anonymous`. */
import {createHostAuthenticator} from '../index.js'
import {InternalBackend} from '../backends/internal.js'
import {AnonymousBackend, randomLocalpart} from '../backends/anonymous.js'
import {scramCoverage} from '../coverage.js'
import {scramMechanismName} from '../../sasl/scram.js'
import {isAbsentStore} from '../../store/absent.js'
import {type BackendDiagnosis, Recorder, fail, info, ok, skip, warn} from './report.js'
import type {DiagnoseInput} from './types.js'

export async function diagnoseInternal(input: DiagnoseInput): Promise<BackendDiagnosis> {
  const settings = input.config.forHost(input.host)
  const recorder = new Recorder()
  const jid = input.username === undefined ? undefined : `${input.username}@${settings.host}`
  const finish = (verdict: Parameters<Recorder['finish']>[2]) => recorder.finish('internal', settings.host, verdict, jid)
  recorder.add('configuration', 'configuration', ok(`auth_password_format ${settings.auth_password_format}, auth_scram_hash ${settings.auth_scram_hash.join(', ')}, ${settings.auth_scram_iterations} iterations`))
  const coverage = await recorder.step('store', 'store', async () => {
    if (isAbsentStore(input.store)) return fail(`there is no account store at ${input.store.location}`, undefined, 'check data_dir and --config; "xmppctl user add" creates the store')
    const {scram, missing, accounts} = await scramCoverage(input.store, settings)
    const lacking = Object.values(missing).filter((reason) => /lack/.test(reason ?? ''))
    const detail = `${input.store.location}: ${accounts} account${accounts === 1 ? '' : 's'} on ${settings.host}; SCRAM served for ${scram.map((hash) => scramMechanismName(hash)).join(', ') || 'no hash'}`
    return lacking.length > 0 ? warn(detail, lacking.join('; '), 'reset those passwords or run "xmppctl scram convert"') : ok(detail)
  })
  void coverage
  if (input.username === undefined) return finish('reachable')
  const account = await input.store.getAccount(settings.host, input.username)
  recorder.add(
    'account',
    'account',
    account
      ? ok(`${jid} exists (${account.state}${account.disabledReason ? `: ${account.disabledReason}` : ''}; ${account.credentials.map((credential) => scramMechanismName(credential.hash)).join(', ') || 'no SCRAM'}${account.plaintext === undefined ? '' : ', plaintext'})`)
      : fail(`${jid} does not exist`, undefined, `create it with "xmppctl user add ${jid}"`),
  )
  if (!account) return finish('rejected')
  if (input.password === undefined) {
    recorder.add('password', 'password', skip('no password given'))
    return finish('reachable')
  }

  const backend = new InternalBackend(settings, input.store, input.secret)
  let verdict: Parameters<Recorder['finish']>[2] = 'rejected'
  await recorder.step('password', 'password check', async () => {
    const outcome = await backend.checkPassword(input.username!, input.password!)
    if (outcome.result === 'accepted') {
      verdict = 'accepted'
      return ok('the password is right')
    }

    if (outcome.result === 'disabled') {
      verdict = 'disabled'
      return warn(`the password is right, but the account is disabled: ${outcome.reason}`, undefined, `xmppctl user enable ${jid}`)
    }

    return info(`the password is wrong (${outcome.result === 'rejected' ? outcome.reason : outcome.result})`)
  })
  return finish(verdict)
}

export async function diagnoseAnonymous(input: DiagnoseInput): Promise<BackendDiagnosis> {
  const settings = input.config.forHost(input.host)
  const recorder = new Recorder()
  const finish = (verdict: Parameters<Recorder['finish']>[2]) => recorder.finish('anonymous', settings.host, verdict)
  const backend = new AnonymousBackend(settings)
  recorder.add('configuration', 'configuration', ok(`anonymous_protocol ${settings.anonymous_protocol}`))
  if (!settings.auth_method.includes('anonymous')) {
    recorder.add('chain', 'auth_method', warn(`anonymous is not in auth_method of ${settings.host}`, 'nothing is offered', 'add anonymous to auth_method'))
  }

  if (backend.saslAnonymous) {
    const host = createHostAuthenticator(input.config, settings.host, input.store, {secret: input.secret})
    try {
      await recorder.step('sasl-anonymous', 'SASL ANONYMOUS', async () => {
        const session = await host.start('ANONYMOUS', {encrypted: true, tlsVersion: 'TLSv1.3', channelBindings: {}})
        if (!session) return fail('ANONYMOUS is not offered on this host', 'it is not in auth_method, or listed in disable_sasl_mechanisms', 'add anonymous to auth_method and remove ANONYMOUS from disable_sasl_mechanisms')
        const step = await session.step(Buffer.alloc(0))
        return step.type === 'success' ? ok(`a login gets a random JID such as ${step.username}@${settings.host}`) : fail(`ANONYMOUS failed: ${step.type}`)
      })
    } finally {
      await host.close()
    }
  } else recorder.add('sasl-anonymous', 'SASL ANONYMOUS', info('not enabled (anonymous_protocol login_anon)'))
  recorder.add('login-anonymous', 'login_anon', backend.loginAnonymous ? ok(`PLAIN with any password logs in any name no other backend knows, e.g. ${randomLocalpart().slice(0, 8)}@${settings.host}`) : info('not enabled (anonymous_protocol sasl_anon)'))
  return finish(recorder.steps.some((step) => step.status === 'fail') ? 'misconfigured' : 'reachable')
}
