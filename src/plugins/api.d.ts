/**
 * The xmppctl auth-plugin API, version 1 (docs/plugins.md).
 *
 * An auth plugin is an npm package that is also an oclif plugin. Its
 * package.json names a hook for the `auth-backends` event:
 *
 *   "oclif": {"hooks": {"auth-backends": "./dist/hook.js"}}
 *
 * and the hook's default export returns an `AuthBackendsContribution`. This
 * file holds types only, and depends on nothing, so that a plugin can import
 * them (`import type … from 'xmppctl/src/plugins/api.js'`) without taking a
 * runtime dependency on xmppctl or oclif. xmppctl adapts what a plugin returns
 * to its own backend interface; the plugin never sees xmppctl's internals.
 */

/** The API version a plugin was written against; xmppctl refuses versions it does not know. */
export type PluginApiVersion = 1

/** What the `auth-backends` hook returns. */
export interface AuthBackendsContribution {
  apiVersion: PluginApiVersion
  backends: AuthBackendDefinition[]
}

/** What the hook is called with (oclif adds its own `config` and `context`). */
export interface AuthBackendsHookOptions {
  /** The API versions this xmppctl understands. */
  xmppctl: {version: string; apiVersions: readonly PluginApiVersion[]}
  [key: string]: unknown
}

/** The hook function: `export default hook` in the file the package.json names. */
export type AuthBackendsHook = (options: AuthBackendsHookOptions) => AuthBackendsContribution | Promise<AuthBackendsContribution>

/** A configuration value's type, checked like xmppctl's own keys (file:line:col, allowed values). */
export type PluginValueSpec =
  | {type: 'string'; nonEmpty?: boolean}
  | {type: 'integer'; min?: number; max?: number}
  | {type: 'boolean'}
  | {type: 'enum'; values: readonly string[]}
  | {type: 'list'; of: PluginValueSpec; nonEmpty?: boolean; unique?: boolean}

/**
 * A configuration key the backend reads. Plugin keys are per host: they may
 * be set at top level and overridden under `host_config`.
 */
export interface PluginKeySpec {
  spec: PluginValueSpec
  description: string
  default?: string | number | boolean | readonly string[]
  /**
   * A check beyond the type (a URL's scheme, a file's presence): return a
   * message such as "must be an https:// URL" when the value is wrong.
   */
  check?: (value: unknown) => string | undefined
}

/** One backend, selected with `auth_method: [METHOD]`. */
export interface AuthBackendDefinition {
  /** The `auth_method` value: lower case, [a-z][a-z0-9_-]*, not one of xmppctl's own methods. */
  method: string
  /** One line for `xmppctl plugins list` and `config check`. */
  description: string
  /**
   * The configuration keys it reads. Names should start with the method
   * (`http_auth_url`); a name xmppctl or another plugin already uses is refused.
   */
  keys?: Record<string, PluginKeySpec>
  /** Keys that must be set for every host whose auth_method uses this backend. */
  requiredKeys?: readonly string[]
  /** Builds the backend of one host. Cheap: open connections on first use. */
  create(context: PluginBackendContext): PluginBackend
  /** Extra `test-auth` steps (reachability, TLS, …), run before the credentials are tried. */
  diagnose?(context: PluginDiagnoseContext): Promise<PluginDiagnosisResult | void>
}

export interface PluginLog {
  error(message: string): void
  warn(message: string): void
  info(message: string): void
  debug(message: string): void
}

export interface PluginBackendContext {
  /** The virtual host this backend serves. */
  host: string
  /** The host's effective settings (global values with its host_config), plugin keys included. */
  settings: Readonly<Record<string, unknown>>
  /** Relative paths in the configuration are relative to this directory. */
  baseDir: string
  /** The server's log. Never log passwords or tokens. */
  log: PluginLog
}

/**
 * What a check answered. `rejected`: wrong password or no such user.
 * `unavailable`: the backend could not be asked; never report that as
 * `rejected`, which would tell a user their right password is wrong.
 * `reason` is for logs and diagnostics: never put the password in it.
 */
export type PluginOutcome =
  | {result: 'accepted'}
  | {result: 'rejected'; reason: string}
  | {result: 'disabled'; reason: string}
  | {result: 'unavailable'; reason: string}

/**
 * A plugin backend checks plaintext passwords (SASL PLAIN, which the server
 * offers only over TLS unless configured otherwise). A method left out is an
 * operation the backend cannot do ("the http backend cannot remove
 * accounts"). A method that throws is `unavailable`, never a crash.
 */
export interface PluginBackend {
  /** Answers may be cached (`auth_use_cache`); default true. */
  readonly cacheable?: boolean
  /** Whether it can serve now; default `{plain: true}`. `unavailable` says why not. */
  capabilities?(): Promise<{plain: boolean; unavailable?: string}>
  checkPassword(username: string, password: string): Promise<PluginOutcome>
  userExists?(username: string): Promise<boolean>
  setPassword?(username: string, password: string): Promise<void>
  createUser?(username: string, password: string): Promise<void>
  removeUser?(username: string): Promise<void>
  close?(): Promise<void>
}

export type PluginStepStatus = 'ok' | 'info' | 'warn' | 'fail' | 'skip'

export interface PluginStepResult {
  status: PluginStepStatus
  /** What was found, e.g. "HTTP 200 in 12 ms". */
  detail: string
  /** For a failure: why, in the operator's terms. */
  cause?: string
  /** For a failure: what to do. */
  fix?: string
}

export interface PluginDiagnoseContext extends PluginBackendContext {
  /** The backend under test, built with `create`. */
  backend: PluginBackend
  /**
   * Runs and records one step with its timing; a step that throws is recorded
   * as a failure. `id` is stable for scripts ("tls-verify"), `title` is shown.
   */
  step(id: string, title: string, run: () => PluginStepResult | Promise<PluginStepResult>): Promise<PluginStepResult>
}

/** Return a verdict to stop before the credentials are tried. */
export interface PluginDiagnosisResult {
  verdict?: 'unavailable' | 'misconfigured'
}
