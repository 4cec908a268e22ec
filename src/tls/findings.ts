/**
 * Findings: what a check found, as data (STYLE.md "Checks"). Severities,
 * lowest first; `--fail-on` exits 1 when a finding at or above it was found.
 */
export const SEVERITIES = ['info', 'notice', 'warning', 'error'] as const
export type Severity = (typeof SEVERITIES)[number]
export const FAIL_ON = [...SEVERITIES, 'none'] as const
export type FailOn = (typeof FAIL_ON)[number]

export interface Finding {
  /** Stable identifier, e.g. `cert-expired`. */
  id: string
  severity: Severity
  /** What the finding is about: a host or a file. */
  subject: string
  message: string
  /** What to do about it. */
  fix: string
}

export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity)
}

/** True when some finding is at or above `failOn`. */
export function fails(findings: readonly Finding[], failOn: FailOn): boolean {
  if (failOn === 'none') return false
  return findings.some((finding) => severityRank(finding.severity) >= severityRank(failOn))
}

/** The highest severity among findings, or undefined when there are none. */
export function worst(findings: readonly Finding[]): Severity | undefined {
  let top: Severity | undefined
  for (const finding of findings) if (!top || severityRank(finding.severity) > severityRank(top)) top = finding.severity
  return top
}
