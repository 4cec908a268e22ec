/**
 * The PostgreSQL store (`sql_type: pgsql`): how its password is kept and
 * whether the way to it is encrypted and authenticated (`sql-config`, read
 * from the configuration and the file system), then, connecting as the
 * server would (`sql-connection`): whether it can, what the role may do
 * beyond what xmppctl needs, and the schema's state. The SQLite store has
 * none of this: both checks find nothing there.
 */
import {isIPv4, isIPv6} from 'node:net'

import {Configuration} from '../../config/index.js'
import {ConfigError, XmppctlError} from '../../errors.js'
import {type Settings} from '../../config/schema.js'
import {type SchemaStatus, schemaStatus, storeEngine} from '../../store/index.js'
import {type PostgresDatabase, postgresLocation, postgresOptions} from '../../store/postgres/database.js'
import type {AuditFinding} from '../findings.js'
import {allows, blockingDirectory, groupName, octal, statOrUndefined, userName} from '../../system.js'
import type {AuditContext, Check} from './types.js'

/** An audit waits at most this long for PostgreSQL to accept a connection, and for a query. */
const CONNECT_TIMEOUT_SECONDS = 5
const QUERY_TIMEOUT_SECONDS = 10

/**
 * Whether `sql_server` keeps the connection on this machine: the directory
 * of a Unix socket, `localhost`, or a loopback address (127.0.0.0/8, ::1).
 */
export function isLocalServer(server: string): boolean {
  if (server.startsWith('/')) return true
  const host = server.replace(/^\[(.*)\]$/, '$1').toLowerCase()
  if (host === 'localhost' || host === 'localhost.') return true
  if (isIPv4(host)) return host.startsWith('127.')
  if (isIPv6(host)) return host === '::1' || /^(0:){7}1$/.test(host) || /^::ffff:127\./.test(host)
  return false
}

type SqlSettings = Pick<Settings, 'sql_server' | 'sql_ssl' | 'sql_ssl_verify'>

/** TLS to a PostgreSQL server on another machine: off (everything in clear), or on without checking who answers. */
export function transportFindings(settings: SqlSettings, location: string): AuditFinding[] {
  if (isLocalServer(settings.sql_server)) return []
  if (!settings.sql_ssl) {
    return [{
      id: 'sql-ssl-off',
      severity: 'critical',
      subject: location,
      message: `sql_ssl is false and sql_server ${settings.sql_server} is another machine: every message, roster and stored credential the server reads or writes crosses the network in clear, as does the password wherever pg_hba.conf asks for it in clear, and anyone on the path can change them`,
      fix: 'set sql_ssl: true and sql_ssl_verify: true (sql_ssl_cafile: the CA of the PostgreSQL server\'s certificate), and allow only hostssl lines for this role in pg_hba.conf; or run PostgreSQL on this machine and use its Unix socket (sql_server: /var/run/postgresql)',
    }]
  }

  if (!settings.sql_ssl_verify) {
    return [{
      id: 'sql-ssl-unverified',
      severity: 'warning',
      subject: location,
      message: `sql_ssl is on but sql_ssl_verify is false: the PostgreSQL server's certificate is not checked, so a man in the middle between here and ${settings.sql_server} can pose as it and read and change everything the server stores`,
      fix: 'set sql_ssl_verify: true, with sql_ssl_cafile naming the CA that signed the PostgreSQL server\'s certificate (its name must match sql_server)',
    }]
  }

  return []
}

/** `sql_password` in the configuration file itself; left over beside `sql_password_file`, which is the one used. */
export function inlinePasswordFindings(settings: Pick<Settings, 'sql_password' | 'sql_password_file' | 'sql_username'>, file: string | undefined): AuditFinding[] {
  if (settings.sql_password === undefined || settings.sql_password === '') return []
  const subject = file ?? 'sql_password'
  if (settings.sql_password_file) {
    return [{
      id: 'sql-password-inline',
      severity: 'warning',
      subject,
      message: `sql_password is set beside sql_password_file, which is the one used: the configuration file still holds a PostgreSQL password of role ${settings.sql_username}`,
      fix: 'remove sql_password from the configuration file (and change the password if the file was ever copied or shared)',
    }]
  }

  return [{
    id: 'sql-password-inline',
    severity: 'warning',
    subject,
    message: `sql_password holds the PostgreSQL password of role ${settings.sql_username} in the configuration file: whoever reads the file, a backup or a pasted copy of it can log in to the store`,
    fix: 'move it into a file only the server\'s user can read (install -m 0600 -o USER /dev/null /etc/xmppctl/sql-password, then write the password on its first line), set sql_password_file to that file and remove sql_password',
  }]
}

/**
 * `sql_password_file` as the store reads it (config/secret-file.ts): it
 * must exist, be readable by the server's user, and by no one else, or
 * the store is not opened at all.
 */
function passwordFileFindings(file: string, context: AuditContext): AuditFinding[] {
  const {user} = context
  const stats = statOrUndefined(file)
  if (!stats) {
    return [{id: 'sql-password-file-missing', severity: 'critical', subject: file, message: 'sql_password_file does not exist: the server cannot open the PostgreSQL store', fix: `create it with the password on its first line (install -m 0600 -o ${user.name} /dev/null ${file}), or fix sql_password_file`}]
  }

  const findings: AuditFinding[] = []
  if ((stats.mode & 0o077) !== 0) {
    const target = stats.mode & ~0o077 & 0o7777
    const who = stats.mode & 0o007 ? 'every user on this machine' : `group ${groupName(stats.gid)}`
    findings.push({
      id: 'sql-password-file-readable',
      severity: 'critical',
      subject: file,
      message: `sql_password_file has mode ${octal(stats.mode)} (${userName(stats.uid)}:${groupName(stats.gid)}): ${who} may read the PostgreSQL password, and xmppctl refuses the file, so the server cannot open the store`,
      fix: `chmod ${octal(target)} ${file}`,
      repair: {kind: 'chmod', path: file, mode: target},
    })
  }

  if (!allows(user, stats, 'r') || blockingDirectory(user, file)) {
    findings.push({
      id: 'sql-password-file-unreadable',
      severity: 'critical',
      subject: file,
      message: `${user.name}, the user the server runs as, cannot read sql_password_file (${octal(stats.mode)} ${userName(stats.uid)}:${groupName(stats.gid)})`,
      fix: `chown ${user.name} ${file} && chmod 600 ${file}, and make the directories above it searchable`,
    })
  }

  return findings
}

export const sqlConfigCheck: Check = {
  id: 'sql-config',
  description: 'the PostgreSQL store\'s settings: sql_password in the configuration file, sql_password_file readable by others or not by the server, sql_ssl off or unverified to another machine',
  findings: ['sql-password-inline', 'sql-password-file-missing', 'sql-password-file-readable', 'sql-password-file-unreadable', 'sql-ssl-off', 'sql-ssl-unverified'],
  async run(context) {
    const {config} = context
    if (storeEngine(config) !== 'postgresql') return []
    const options = postgresOptions(config)
    const findings = inlinePasswordFindings(config.settings, config.file)
    if (options.password && 'file' in options.password) findings.push(...passwordFileFindings(options.password.file, context))
    findings.push(...transportFindings(config.settings, postgresLocation(options)))
    return findings
  },
}

/** Roles whose members may read or write any file of the server, run programs there, or read or write every table. */
const POWERFUL_ROLES = ['pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files', 'pg_read_all_data', 'pg_write_all_data']

/** What the store's role may do beyond owning its own database and tables. */
export interface RolePrivileges {
  name: string
  /** The cluster's first superuser (oid 10), which cannot lose SUPERUSER. */
  bootstrap: boolean
  /** Attributes it holds, as ALTER ROLE spells them: SUPERUSER, CREATEDB, CREATEROLE, BYPASSRLS, REPLICATION. */
  attributes: string[]
  /** Roles it may become or inherit from that hold such attributes, or one of POWERFUL_ROLES. */
  roles: string[]
  /** Databases it owns besides its own. */
  databases: string[]
  /** Other databases in which it owns objects. */
  objectsIn: string[]
}

const ROLE_QUERY = `
  SELECT r.rolname::text AS name, r.oid = 10 AS bootstrap,
    r.rolsuper AS superuser, r.rolcreatedb AS createdb, r.rolcreaterole AS createrole, r.rolbypassrls AS bypassrls, r.rolreplication AS replication,
    ARRAY(SELECT b.rolname::text FROM pg_roles b
          WHERE b.oid <> r.oid AND NOT r.rolsuper AND pg_has_role(r.oid, b.oid, 'MEMBER')
            AND (b.rolsuper OR b.rolcreatedb OR b.rolcreaterole OR b.rolbypassrls OR b.rolreplication OR b.rolname = ANY($1::text[]))
          ORDER BY b.rolname) AS roles,
    ARRAY(SELECT d.datname::text FROM pg_database d WHERE d.datdba = r.oid AND d.datname <> current_database() ORDER BY d.datname) AS databases,
    ARRAY(SELECT DISTINCT d.datname::text FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
          WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = r.oid AND s.deptype = 'o' AND d.datname <> current_database()
          ORDER BY 1) AS "objectsIn"
  FROM pg_roles r WHERE r.rolname = current_user`

interface RoleRow {
  name: string
  bootstrap: boolean
  superuser: boolean
  createdb: boolean
  createrole: boolean
  bypassrls: boolean
  replication: boolean
  roles: string[]
  databases: string[]
  objectsIn: string[]
}

async function rolePrivileges(db: PostgresDatabase): Promise<RolePrivileges> {
  const row = (await db.query<RoleRow>(ROLE_QUERY, [POWERFUL_ROLES])).rows[0]
  const attributes = (['superuser', 'createdb', 'createrole', 'bypassrls', 'replication'] as const).filter((attribute) => row[attribute]).map((attribute) => attribute.toUpperCase())
  return {name: row.name, bootstrap: row.bootstrap, attributes, roles: row.roles, databases: row.databases, objectsIn: row.objectsIn}
}

/** An SQL identifier as a command can take it: quoted unless plain lower case. */
function ident(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`
}

/** A role that can do more than keep xmppctl's tables: whoever takes over the server, or slips SQL into it, gets all of it. */
export function roleFindings(role: RolePrivileges, database: string, location: string): AuditFinding[] {
  const more = [
    ...(role.attributes.length > 0 ? [role.attributes.join(', ')] : []),
    ...(role.roles.length > 0 ? [`membership of ${role.roles.join(', ')}`] : []),
    ...(role.databases.length > 0 ? [`ownership of database${role.databases.length === 1 ? '' : 's'} ${role.databases.join(', ')}`] : []),
    ...(role.objectsIn.length > 0 ? [`objects it owns in database${role.objectsIn.length === 1 ? '' : 's'} ${role.objectsIn.join(', ')}`] : []),
  ]
  if (more.length === 0) return []
  const name = ident(role.name)
  const fix = role.bootstrap
    ? `${role.name} is the cluster's bootstrap superuser, which cannot lose SUPERUSER: give xmppctl a role of its own (createuser xmppctl), make it the owner of database ${database} and its tables, and set sql_username to it`
    : [
        ...(role.attributes.length > 0 ? [`ALTER ROLE ${name} ${role.attributes.map((attribute) => `NO${attribute}`).join(' ')};`] : []),
        ...role.roles.map((granted) => `REVOKE ${ident(granted)} FROM ${name};`),
        ...role.databases.map((other) => `ALTER DATABASE ${ident(other)} OWNER TO postgres;`),
        ...(role.objectsIn.length > 0 ? [`and in ${role.objectsIn.join(', ')} give its objects another owner (ALTER TABLE … OWNER TO …)`] : []),
      ].join(' ')
  return [{
    id: 'sql-role-privileged',
    severity: 'warning',
    subject: location,
    message: `role ${role.name} has more privileges than the store needs (its own database and tables): ${more.join('; ')}. Whoever takes over the server, or slips SQL into it, has them too`,
    fix: role.bootstrap ? fix : `as a superuser: ${fix}`,
  }]
}

/** Migrations pending (or the database still empty), or a schema this xmppctl does not know. */
export function schemaFindings(status: SchemaStatus): AuditFinding[] {
  const subject = status.location
  if (status.state === 'absent') {
    return [{id: 'sql-schema-pending', severity: 'info', subject, message: `the database holds no tables yet: the server creates them (schema ${status.expected}) when it starts`, fix: 'nothing; or create them now with "xmppctl db migrate"'}]
  }

  if (status.state === 'outdated') {
    const count = status.pending.length
    return [{
      id: 'sql-schema-pending',
      severity: status.migratesOnOpen ? 'info' : 'warning',
      subject,
      message: `schema version ${status.version}, this xmppctl's is ${status.expected}: ${count} migration${count === 1 ? '' : 's'} pending; ${status.migratesOnOpen ? 'the server applies them when it starts (update_sql_schema)' : 'the server refuses the store until they run (update_sql_schema is false)'}`,
      fix: 'back the database up (pg_dump), then run "xmppctl db migrate": an older xmppctl cannot open the migrated store',
    }]
  }

  if (status.state === 'newer') {
    return [{id: 'sql-schema-newer', severity: 'warning', subject, message: `schema version ${status.version} is newer than this xmppctl's (${status.expected}): it refuses the store`, fix: 'run the xmppctl that wrote it, or upgrade this one'}]
  }

  return []
}

/**
 * The configuration with the audit's short waits, so that an unreachable
 * server does not hold the audit up: for a connection, and for a query
 * unless `configuredQueries` (the credentials check reads every account,
 * which may take as long as the server's own queries may).
 */
export function auditConfiguration(config: Configuration, {configuredQueries = false}: {configuredQueries?: boolean} = {}): Configuration {
  const settings = {
    ...config.settings,
    sql_connect_timeout: Math.min(config.settings.sql_connect_timeout, CONNECT_TIMEOUT_SECONDS),
    sql_query_timeout: configuredQueries ? config.settings.sql_query_timeout : Math.min(config.settings.sql_query_timeout, QUERY_TIMEOUT_SECONDS),
  }
  return new Configuration(config.file, settings, {...config.hostOverrides}, config.plugins)
}

/** A store error as a finding: the reason in the store's own words, its hint as the fix. */
function failure(id: string, error: unknown, location: string): AuditFinding {
  if (error instanceof XmppctlError) return {id, severity: 'critical', subject: location, message: `${error.message} (${error.code})`, fix: error.hint ?? 'check the sql_* settings'}
  return {id, severity: 'critical', subject: location, message: error instanceof Error ? error.message : String(error), fix: 'check the sql_* settings'}
}

export const sqlConnectionCheck: Check = {
  id: 'sql-connection',
  description: 'the PostgreSQL store, connected to as the server would: cannot connect (why), a role with more privileges than it needs, pending migrations or a newer schema',
  findings: ['sql-connect-failed', 'sql-role-privileged', 'sql-schema-pending', 'sql-schema-newer', 'sql-schema-unusable'],
  async run(context) {
    if (storeEngine(context.config) !== 'postgresql') return []
    const config = auditConfiguration(context.config)
    const options = postgresOptions(config)
    const location = postgresLocation(options)
    let db: PostgresDatabase
    try {
      db = await context.postgres()
    } catch (error) {
      // The password file refused (sql-config reports it): there is no password to connect with.
      if (error instanceof ConfigError) {
        context.skip(`cannot connect: ${error.message}`)
        return []
      }

      return [failure('sql-connect-failed', error, location)]
    }

    const findings: AuditFinding[] = []
    try {
      findings.push(...roleFindings(await rolePrivileges(db), options.database, location))
    } catch (error) {
      return [failure('sql-connect-failed', error, location)]
    }

    try {
      findings.push(...schemaFindings(await schemaStatus(config)))
    } catch (error) {
      findings.push(failure('sql-schema-unusable', error, location))
    }

    return findings
  },
}
