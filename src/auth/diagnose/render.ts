/** Plain-text rendering of diagnoses for `test-auth` (the command prints it; --json prints the data). */
import type {HostReport} from './index.js'
import type {BackendDiagnosis, DiagnosticStep} from './report.js'

const LABEL: Record<DiagnosticStep['status'], string> = {ok: 'ok', info: 'info', warn: 'warn', fail: 'FAIL', skip: 'skip'}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`
}

export function renderDiagnosis(diagnosis: BackendDiagnosis, indent = ''): string {
  const lines = [`${indent}test-auth ${diagnosis.backend} on ${diagnosis.host}${diagnosis.jid ? ` for ${diagnosis.jid}` : ''}`]
  const width = Math.max(...diagnosis.steps.map((step) => step.title.length))
  for (const step of diagnosis.steps) {
    lines.push(`${indent}  ${LABEL[step.status].padEnd(5)} ${step.title.padEnd(width)}  ${step.detail} (${formatMs(step.ms)})`)
    if (step.cause) lines.push(`${indent}        ${''.padEnd(width)}  cause: ${step.cause}`)
    if (step.fix) lines.push(`${indent}        ${''.padEnd(width)}  fix:   ${step.fix}`)
  }

  const problems = diagnosis.problems > 0 ? `, ${diagnosis.problems} problem${diagnosis.problems === 1 ? '' : 's'} found` : ''
  lines.push(`${indent}verdict: ${diagnosis.verdict} in ${formatMs(diagnosis.ms)}${problems}`)
  return lines.join('\n')
}

export function renderHostReport(report: HostReport): string {
  const lines = [`host ${report.host} (auth_method: ${report.authMethod.join(', ')})`]
  for (const backend of report.backends) lines.push(renderDiagnosis(backend, '  '), '')
  lines.push('  mechanisms offered:')
  for (const offer of report.offers) {
    lines.push(`    ${offer.connection}: ${offer.mechanisms.join(' ') || '(none: no client can log in)'}`)
    for (const decision of offer.decisions) lines.push(`      ${decision.offered ? '+' : '-'} ${decision.mechanism.padEnd(18)} ${decision.why}`)
  }

  return lines.join('\n')
}
