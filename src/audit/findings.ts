/**
 * Audit findings (STYLE.md "Checks"): what a check found, as data. Audit
 * severities are info, warning and critical; `--fail-on` exits 1 when a
 * finding at or above it exists.
 */
import type {Severity as TlsSeverity} from '../tls/findings.js'

export const AUDIT_SEVERITIES = ['info', 'warning', 'critical'] as const
export type AuditSeverity = (typeof AUDIT_SEVERITIES)[number]
export const AUDIT_FAIL_ON = [...AUDIT_SEVERITIES, 'none'] as const
export type AuditFailOn = (typeof AUDIT_FAIL_ON)[number]

/** A safe, reversible repair `--fix` may apply: only permissions and ownership. */
export type Repair =
  | {kind: 'chmod'; path: string; mode: number}
  | {kind: 'chown'; path: string; uid: number; gid: number}

export interface AuditFinding {
  /** Stable identifier, e.g. `store-mode`. */
  id: string
  severity: AuditSeverity
  /** What the finding is about: a path, a host, a setting. */
  subject: string
  message: string
  /** What to do about it. */
  fix: string
  /** Set when `--fix` can repair it by itself. */
  repair?: Repair
}

export function severityRank(severity: AuditSeverity): number {
  return AUDIT_SEVERITIES.indexOf(severity)
}

/** True when some finding is at or above `failOn`. */
export function auditFails(findings: readonly AuditFinding[], failOn: AuditFailOn): boolean {
  if (failOn === 'none') return false
  return findings.some((finding) => severityRank(finding.severity) >= severityRank(failOn))
}

/** `cert check` and `dhparam check` speak error/warning/notice/info; an audit speaks critical/warning/info. */
export function fromTlsSeverity(severity: TlsSeverity): AuditSeverity {
  if (severity === 'error') return 'critical'
  if (severity === 'warning') return 'warning'
  return 'info'
}

/** Worst first, then by subject and id, so output is stable. */
export function sortFindings(findings: AuditFinding[]): AuditFinding[] {
  return findings.sort((a, b) => severityRank(b.severity) - severityRank(a.severity) || a.subject.localeCompare(b.subject) || a.id.localeCompare(b.id))
}

export function countBySeverity(findings: readonly AuditFinding[]): Record<AuditSeverity, number> {
  const counts: Record<AuditSeverity, number> = {info: 0, warning: 0, critical: 0}
  for (const finding of findings) counts[finding.severity]++
  return counts
}
