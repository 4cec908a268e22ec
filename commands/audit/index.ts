import {Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {ExitCode} from '../../src/errors.js'
import {AUDIT_FAIL_ON, type AuditFailOn, type AuditFinding, auditFails} from '../../src/audit/findings.js'
import type {AppliedFix, AuditResult} from '../../src/audit/local.js'

export interface AuditCommandResult extends Omit<AuditResult, 'findings'> {
  findings: Array<Omit<AuditFinding, 'repair'> & {fixable: boolean}>
  failOn: AuditFailOn
  failed: boolean
}

function describeFix(change: AppliedFix): string {
  return `${change.action} ${change.path}: ${change.from} → ${change.to} (${change.finding})`
}

export default class Audit extends BaseCommand<AuditCommandResult> {
  static description = `Check this installation the way an attacker would look at it first

Checks (run all, or some with --only; a check id or a finding id):
  files          data directory, store and certificates: owner (the server user, see --as), mode (no group or world access to the store or keys; directories 0700/0750), symlinks leading out of the data directory, world-writable parents
  config-file    the configuration file: writable by others; readable by others while it holds secrets (pasted private keys)
  credentials    auth_password_format plain, accounts holding plaintext passwords, accounts lacking a SCRAM hash of auth_scram_hash (named)
  sql-config     the PostgreSQL store (sql_type: pgsql): sql_password in the configuration file, sql_password_file missing, readable by others or not by the server, sql_ssl off (critical) or unverified to a server on another machine
  sql-connection connects to PostgreSQL as the server would: cannot connect (the store's reason), a role with more privileges than it needs (SUPERUSER, CREATEDB, CREATEROLE, BYPASSRLS, REPLICATION, powerful roles, other databases), pending migrations (info; warning with update_sql_schema false), a newer schema
  auth-backends  extauth_program writable by others, jwt_key holding a signing secret readable by others, saslauthd socket out of the server user's reach
  tls-policy     c2s_require_encryption off, PLAIN before TLS, tls.min_version below TLSv1.2, what tls.ciphers admits according to OpenSSL (NULL, anonymous, EXPORT, RC4, 3DES, no forward secrecy, no AEAD), DH parameters
  certificates   "cert check" for every host: coverage, expiry, key strength, signature algorithm, chain
  auth-bans      the running server's failed-login bans (as "status" shows them): each banned address (info); many at once, a banned address c2s_auth_ban_exempt covers, an account guessed at from many addresses (warning). Not checked when no server runs

Severities are info, warning and critical; exits 1 when a finding at or above --fail-on (default warning) remains. --fix applies only repairs that can be undone (chmod; chown when run as root), prints each change with its old value, then checks again. It never touches parents, symlinks or anything else.`

  static examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --as xmpp --fix',
    '<%= config.bin %> <%= command.id %> --only files --only tls-policy --fail-on critical',
    '<%= config.bin %> <%= command.id %> --json | jq \'.findings[] | select(.severity == "critical")\'',
  ]

  static flags = {
    only: Flags.string({description: 'run only this check, or report only this finding id (repeatable)', multiple: true, helpValue: 'ID'}),
    'fail-on': Flags.string({description: 'exit 1 when a finding at or above this severity remains', options: [...AUDIT_FAIL_ON], default: 'warning'}),
    as: Flags.string({description: 'the user the server runs as, whose access is judged (default: the user running this command)', helpValue: 'USER'}),
    fix: Flags.boolean({description: 'apply safe, reversible repairs (permissions; ownership when run as root) and list each change'}),
  }

  async run(): Promise<AuditCommandResult> {
    const {flags: f} = await this.parse(Audit)
    const config = await this.loadConfiguration()
    const {runAudit} = await import('../../src/audit/local.js')
    const {currentUser, resolveUser} = await import('../../src/system.js')
    const {renderFindings, stdoutPainter: paint, summaryLine} = await import('../../src/cli/audit-render.js')
    const user = f.as ? resolveUser(f.as) : currentUser()
    const result = await runAudit({config, user, only: f.only ?? [], fix: f.fix})
    const failOn = f['fail-on'] as AuditFailOn
    if (f.fix) {
      if (result.fixed.length === 0) this.log('fixed: nothing')
      else {
        this.log('fixed:')
        for (const change of result.fixed) this.log(`  ${describeFix(change)}`)
      }

      for (const skipped of result.notFixed) this.log(`  not fixed: ${skipped.path} (${skipped.finding}): ${skipped.reason}`)
      this.log('')
    }

    for (const line of renderFindings(result.findings, paint)) this.log(line)
    for (const {check, reason} of result.skipped) this.log(`not checked: ${check} (${reason})`)
    this.log(summaryLine(result.findings))
    const failed = auditFails(result.findings, failOn)
    if (failed) this.setExitStatus(ExitCode.false)
    return {
      ...result,
      findings: result.findings.map(({repair, ...finding}) => ({...finding, fixable: repair !== undefined})),
      failOn,
      failed,
    }
  }
}
