import {UnsupportedError} from '../../errors.js'
import type {AuthMethod} from '../../sasl/session.js'

/** "the pam backend cannot create accounts": what a backend cannot do, as a typed error. */
export function unsupported(method: AuthMethod, what: string, hint?: string): UnsupportedError {
  return new UnsupportedError(`the ${method} backend cannot ${what}`, hint ?? 'manage these accounts where the backend keeps them')
}
