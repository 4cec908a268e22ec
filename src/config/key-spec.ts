/**
 * How a configuration key is described: its value's type and bounds, its
 * default, whether a host may override it. The key tables (schema.ts, and
 * each server module's keys in modules.ts) are written in these terms, and
 * validate.ts checks a file against them.
 */

export type ValueSpec =
  | {type: 'string'; nonEmpty?: boolean}
  /** `words`: words accepted instead of a number, kept as written (`infinity`). */
  | {type: 'integer'; min?: number; max?: number; words?: readonly string[]}
  | {type: 'boolean'}
  | {type: 'enum'; values: readonly string[]}
  | {type: 'list'; of: ValueSpec; nonEmpty?: boolean; unique?: boolean}
  | {type: 'object'; keys: Record<string, KeySpec>}
  /** A mapping whose keys the user names (ejabberd's shaper names), each value of `of`. */
  | {type: 'map'; of: ValueSpec}
  /** ejabberd's shaper value: bytes per second, or {rate, burst_size}. */
  | {type: 'shaper-rate'}
  /** An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`), or one address. */
  | {type: 'network'}
  /** An `auth_method` value: one of AUTH_METHODS, or a method an installed auth plugin provides. */
  | {type: 'auth-method'}

export interface KeySpec {
  spec: ValueSpec
  description: string
  default?: unknown
  /** May be overridden per host under `host_config`. */
  perHost?: boolean
  required?: boolean
  /** A check beyond the type (auth plugins' keys): a message when the value is wrong. */
  check?: (value: unknown) => string | undefined
}
