/**
 * SCRAM-SHA-1, -256, -512 and their -PLUS variants (RFC 5802, RFC 7677,
 * RFC 9266): one parametrised definition over the exchange in
 * ../scram-server.ts. Unknown users go through that module's fake-salt path,
 * so absence cannot be probed; a disabled account is told `account-disabled`
 * only after it proved the password, so the state does not leak either.
 */
import type {AuthMethod, SaslSession, SaslStep} from '../session.js'
import {UnavailableError} from '../../errors.js'
import type {SaslStep as ExchangeStep} from '../outcome.js'
import {SCRAM_HASHES, type ScramHash, scramMechanismName} from '../scram.js'
import {ScramServer} from '../scram-server.js'
import {type AnnouncedConnection, type MechanismContext, type MechanismDefinition, fail} from './types.js'

class ScramSession implements SaslSession {
  private readonly server: ScramServer
  private disabled: string | undefined
  private method: AuthMethod | undefined
  private started = false
  private sentEmptyChallenge = false

  constructor(context: MechanismContext, hash: ScramHash, plus: boolean) {
    const {auth} = context
    const {sasl} = context.connection as AnnouncedConnection
    this.server = new ScramServer({
      hash,
      plus,
      channelBindings: context.channelBindings,
      advertisedPlus: context.advertisedPlus,
      ...(sasl ? {announced: {mechanisms: sasl.mechanisms, channelBindingTypes: sasl.channelBindingTypes}, downgradeProtection: sasl.downgradeProtection} : {}),
      unknownUser: context.unknownUser,
      normalizeUsername: (username) => context.normalizeUsername(username),
      lookup: async (username, wanted) => {
        const found = await auth.getScramCredentials(username, wanted)
        this.disabled = found?.disabled
        this.method = found?.method
        return found?.credentials
      },
      // RFC 6120 §6.3.8: the only identity a user may assume is their own bare JID.
      authorize: (username, authzid) => {
        const at = authzid.lastIndexOf('@')
        if (at === -1 || authzid.includes('/') || authzid.slice(at + 1).toLowerCase() !== auth.host) return false
        try {
          return context.normalizeUsername(authzid.slice(0, at)) === username
        } catch {
          return false
        }
      },
    })
  }

  async step(response: Buffer): Promise<SaslStep> {
    // No initial response: ask for client-first with an empty challenge (RFC 6120 §6.4.2).
    if (!this.started && response.length === 0 && !this.sentEmptyChallenge) {
      this.sentEmptyChallenge = true
      return {type: 'challenge', data: Buffer.alloc(0)}
    }

    this.started = true
    let step: ExchangeStep
    try {
      step = await this.server.step(response)
    } catch (error) {
      return fail('temporary-auth-failure', error instanceof Error ? error.message : String(error))
    }

    switch (step.type) {
      case 'challenge': {
        return {type: 'challenge', data: step.data}
      }

      case 'failure': {
        const cause = step.cause instanceof UnavailableError ? `: ${step.cause.message}` : ''
        return fail(step.condition, `${step.reason}${cause}`)
      }

      case 'success': {
        if (this.disabled !== undefined) return fail('account-disabled', this.disabled)
        return {
          type: 'success',
          data: step.data,
          username: step.username,
          ...(step.authzid === undefined ? {} : {authzid: step.authzid}),
          ...(this.method === undefined ? {} : {method: this.method}),
        }
      }
    }
  }
}

function scramDefinition(hash: ScramHash, plus: boolean): MechanismDefinition {
  return {
    name: scramMechanismName(hash, plus),
    needs: {kind: 'scram', hash},
    channelBinding: plus,
    create: (context) => new ScramSession(context, hash, plus),
  }
}

/** Every SCRAM variant: SCRAM-SHA-1, SCRAM-SHA-1-PLUS, …, SCRAM-SHA-512-PLUS. */
export const SCRAM_MECHANISMS: readonly MechanismDefinition[] = SCRAM_HASHES.flatMap((hash) => [scramDefinition(hash, false), scramDefinition(hash, true)])
