/**
 * The server-side SASL mechanisms, one file each; this registry is how the
 * host authenticator finds one by the name a client chose.
 */
import {ANONYMOUS} from './anonymous.js'
import {GSSAPI} from './gssapi.js'
import {PLAIN} from './plain.js'
import {SCRAM_MECHANISMS} from './scram.js'
import type {MechanismDefinition} from './types.js'

export type {AnnouncedConnection, MechanismAuth, MechanismContext, MechanismDefinition, MechanismNeed} from './types.js'
export {parsePlainMessage} from './plain.js'

export const MECHANISMS: readonly MechanismDefinition[] = [...SCRAM_MECHANISMS, GSSAPI, PLAIN, ANONYMOUS]

const BY_NAME = new Map(MECHANISMS.map((mechanism) => [mechanism.name, mechanism]))

/** The mechanism called `name` exactly (SASL names are upper case, RFC 4422 §3.1). */
export function findMechanism(name: string): MechanismDefinition | undefined {
  return BY_NAME.get(name)
}
