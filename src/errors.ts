/**
 * Every error xmppctl raises on purpose. Each has a stable code (for scripts
 * reading `--json`), an exit status (DESIGN.md "Exit codes"), a message naming
 * what was wrong and a hint saying what to do. Messages never contain secrets.
 */

export const ExitCode = {
  ok: 0,
  /** The thing checked is false: wrong password, user absent, findings. */
  false: 1,
  /** Bad usage or bad configuration. */
  usage: 2,
  /** A backend or server could not be reached. */
  unavailable: 3,
  /** A bug in xmppctl (sysexits' EX_SOFTWARE): an error no code path expected. */
  internal: 70,
} as const

export type ExitStatus = (typeof ExitCode)[keyof typeof ExitCode]

export class XmppctlError extends Error {
  readonly code: string
  readonly exitCode: ExitStatus
  readonly hint: string | undefined

  constructor(code: string, message: string, options: {hint?: string; exitCode?: ExitStatus; cause?: unknown} = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'XmppctlError'
    this.code = code
    this.exitCode = options.exitCode ?? ExitCode.usage
    this.hint = options.hint
  }
}

/** Bad command-line usage: a missing argument, conflicting flags. */
export class UsageError extends XmppctlError {
  constructor(message: string, hint?: string) {
    super('usage', message, {hint, exitCode: ExitCode.usage})
  }
}

/** A configuration file that cannot be used; `location` is `file:line:column`. */
export class ConfigError extends XmppctlError {
  readonly location: string | undefined

  constructor(message: string, options: {location?: string; hint?: string} = {}) {
    super('config-invalid', options.location ? `${options.location}: ${message}` : message, {
      hint: options.hint,
      exitCode: ExitCode.usage,
    })
    this.location = options.location
  }
}

/** A JID that does not parse or normalise (RFC 7622). */
export class JidError extends XmppctlError {
  constructor(message: string, hint?: string) {
    super('jid-invalid', message, {hint: hint ?? 'write a bare JID such as alice@example.org', exitCode: ExitCode.usage})
  }
}

/** A password that cannot be used: empty, or refused by SASLprep (RFC 4013). */
export class PasswordError extends XmppctlError {
  constructor(message: string, hint?: string) {
    super('password-invalid', message, {hint, exitCode: ExitCode.usage})
  }
}

export class UnknownHostError extends XmppctlError {
  constructor(host: string, configured: readonly string[]) {
    super('host-unknown', `host ${host} is not configured (configured: ${configured.join(', ')})`, {
      hint: `add ${host} to "hosts" in the configuration, or use one of the configured hosts`,
      exitCode: ExitCode.usage,
    })
  }
}

export class AccountExistsError extends XmppctlError {
  constructor(jid: string) {
    super('account-exists', `account ${jid} already exists`, {
      hint: `use "xmppctl user passwd ${jid}" to change its password`,
      exitCode: ExitCode.usage,
    })
  }
}

/** The account checked does not exist. Exit 1: the thing checked is false. */
export class AccountAbsentError extends XmppctlError {
  constructor(jid: string, exitCode: ExitStatus = ExitCode.false) {
    super('account-absent', `account ${jid} does not exist`, {
      hint: 'check the spelling, or list accounts with "xmppctl user list"',
      exitCode,
    })
  }
}

/** The store cannot be opened or used: unwritable, corrupt, foreign, too new. */
export class StoreError extends XmppctlError {
  /** Exit 2 by default (the store's setup is wrong); 3 when it is only unavailable now (locked, disk full). */
  constructor(code: string, message: string, hint: string, cause?: unknown, exitCode: ExitStatus = ExitCode.usage) {
    super(code, message, {hint, exitCode, cause})
  }
}

/** The data directory cannot be used: not creatable, not writable by this user, or writable by others. */
export class DataDirectoryError extends XmppctlError {
  constructor(code: string, message: string, hint: string, cause?: unknown) {
    super(code, message, {hint, exitCode: ExitCode.usage, cause})
  }
}

/** A backend cannot perform an operation at all ("the pam backend cannot create accounts"). */
export class UnsupportedError extends XmppctlError {
  constructor(message: string, hint?: string) {
    super('unsupported', message, {hint, exitCode: ExitCode.usage})
  }
}

/** A backend or server could not be asked: timeout, socket error, crash. */
export class UnavailableError extends XmppctlError {
  constructor(message: string, hint?: string, cause?: unknown) {
    super('unavailable', message, {hint, exitCode: ExitCode.unavailable, cause})
  }
}

export function isXmppctlError(error: unknown): error is XmppctlError {
  return error instanceof XmppctlError
}

/** The message of an operating-system error without its stack, e.g. "EACCES: permission denied". */
export function osErrorText(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error && typeof (error as {code: unknown}).code === 'string') {
    const {code} = error as {code: string}
    const message = error instanceof Error ? error.message : String(error)
    return message.startsWith(code) ? message.replace(/, \w+ '.*'$/, '') : `${code}: ${message}`
  }

  return error instanceof Error ? error.message : String(error)
}
