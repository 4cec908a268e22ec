/**
 * Human text for audit findings, grouped by subject: the lines the command
 * prints (colour is applied by the caller's painter, so this stays pure).
 */
import {stdoutColour} from './output.js'
import {type AuditFinding, type AuditSeverity, countBySeverity} from '../audit/findings.js'

export type Painter = Record<AuditSeverity | 'subject' | 'dim', (text: string) => string>

export const plainPainter: Painter = {info: String, warning: String, critical: String, subject: String, dim: String}

/** Colours for standard output (none without a terminal or with NO_COLOR). */
export const stdoutPainter: Painter = {
  critical: (text) => stdoutColour.red(text),
  warning: (text) => stdoutColour.yellow(text),
  info: (text) => stdoutColour.dim(text),
  subject: (text) => stdoutColour.bold(text),
  dim: (text) => stdoutColour.dim(text),
}

/** Each subject once, then its findings worst first, each with its fix. */
export function renderFindings(findings: readonly AuditFinding[], paint: Painter = plainPainter): string[] {
  const lines: string[] = []
  const subjects = [...new Set(findings.map((finding) => finding.subject))]
  for (const subject of subjects) {
    lines.push(paint.subject(subject))
    for (const finding of findings.filter((candidate) => candidate.subject === subject)) {
      lines.push(`  ${paint[finding.severity](finding.severity)} ${finding.id}: ${finding.message}`)
      lines.push(`    ${paint.dim(`fix: ${finding.fix}`)}`)
    }
  }

  return lines
}

export function summaryLine(findings: readonly AuditFinding[]): string {
  const counts = countBySeverity(findings)
  return `${counts.critical} critical, ${counts.warning} warning${counts.warning === 1 ? '' : 's'}, ${counts.info} info`
}
