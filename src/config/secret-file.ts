import {readFileSync, statSync} from 'node:fs'

import {ConfigError} from '../errors.js'

/**
 * The first line of a file that holds a service's password
 * (`ldap_password_file`, `sql_password_file`), refused when others may
 * read it: a password kept out of the configuration must not be readable
 * by more users than the configuration.
 */
export function readSecretFile(file: string, key: string, what: string): string {
  let mode: number
  try {
    mode = statSync(file).mode
  } catch (error) {
    throw new ConfigError(`${key} ${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {hint: `create it with ${what}, mode 0600`})
  }

  if (mode & 0o077) throw new ConfigError(`${key} ${file} is mode ${(mode & 0o777).toString(8).padStart(4, '0')}: others may read ${what}`, {hint: `chmod 600 ${file}`})
  return readFileSync(file, 'utf8').split('\n')[0].replace(/\r$/, '')
}
