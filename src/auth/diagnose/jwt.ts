/** `test-auth jwt`: the key file, then each check on the token, naming the step that fails. */
import {JwtBackend, type JwtFailureStep} from '../backends/jwt.js'
import {UnavailableError} from '../../errors.js'
import {type BackendDiagnosis, Recorder, fail, ok, skip} from './report.js'
import type {DiagnoseInput} from './types.js'

const CHECKS: Array<[JwtFailureStep, string, string]> = [
  ['malformed', 'token format', 'the token is three base64url parts with a JSON header and payload'],
  ['kid', 'key id', 'the token\'s kid names a key of jwt_key'],
  ['algorithm', 'algorithm', 'the algorithm is one the key allows'],
  ['signature', 'signature', 'the signature verifies'],
  ['expired', 'expiry (exp)', 'the token has not expired'],
  ['not-yet-valid', 'not before (nbf)', 'the token is already valid'],
  ['jid-missing', 'JID claim', 'the JID claim is present'],
  ['jid-mismatch', 'JID match', 'the JID claim names the authenticating user'],
]

const FIXES: Record<JwtFailureStep, string> = {
  key: 'fix jwt_key',
  malformed: 'pass the token exactly as issued (header.payload.signature)',
  kid: 'add the issuer\'s key with that kid to the JWK Set in jwt_key',
  algorithm: 'sign with an algorithm of the key\'s family, or put the issuer\'s key in jwt_key',
  signature: 'jwt_key must hold the public key (or HMAC secret) of the issuer that signed the token',
  expired: 'issue a fresh token',
  'not-yet-valid': 'synchronise the clocks of the issuer and this machine (NTP), or raise jwt_clock_skew',
  'jid-missing': 'have the issuer put the JID in the claim named by jwt_jid_field, or change jwt_jid_field',
  'jid-mismatch': 'log in as the JID the token names, or issue a token for this JID',
}

export async function diagnoseJwt(input: DiagnoseInput): Promise<BackendDiagnosis> {
  const settings = input.config.forHost(input.host)
  const recorder = new Recorder()
  const jid = input.username === undefined ? undefined : `${input.username}@${settings.host}`
  const finish = (verdict: Parameters<Recorder['finish']>[2]) => recorder.finish('jwt', settings.host, verdict, jid)
  const keyFile = settings.jwt_key === undefined ? undefined : (await import('node:path')).resolve(input.baseDir, settings.jwt_key)
  const backend = new JwtBackend({host: settings.host, keyFile, jidField: settings.jwt_jid_field, clockSkew: settings.jwt_clock_skew})
  recorder.add('configuration', 'configuration', keyFile ? ok(`jwt_key ${keyFile}, jwt_jid_field ${settings.jwt_jid_field}, jwt_clock_skew ${settings.jwt_clock_skew} s`) : fail('jwt_key is not set', undefined, 'set jwt_key to a file with a PEM key, a JWK or a JWK Set'))
  if (!keyFile) return finish('misconfigured')
  const key = await recorder.step('key', 'key', async () => {
    try {
      const keys = await backend.loadKeys()
      return ok(keys.map((entry) => `${entry.kid ? `kid "${entry.kid}": ` : ''}${entry.type}, allows ${entry.algorithms.join(', ') || 'nothing'}`).join('; '))
    } catch (error) {
      if (error instanceof UnavailableError) return fail(error.message, undefined, error.hint)
      throw error
    }
  })
  if (key.status === 'fail') return finish('misconfigured')
  if (input.token === undefined || input.username === undefined) {
    recorder.add('token', 'token', skip('no token given: pass a JID and --token-stdin to check one'))
    return finish('reachable')
  }

  const started = performance.now()
  const verdict = await backend.verify(input.username, input.token)
  const ms = performance.now() - started
  for (const [step, title, passed] of CHECKS) {
    if (!verdict.ok && verdict.step === step) {
      recorder.add(step, title, fail(verdict.message, `the ${title} check failed`, FIXES[step]), ms)
      return finish('rejected')
    }

    recorder.add(step, title, ok(step === 'algorithm' && verdict.ok ? `${passed} (${verdict.alg})` : passed))
  }

  return finish('accepted')
}
