/**
 * Certificates: `cert check` for every configured host (coverage, expiry,
 * key strength, signature algorithm, chain, the service domains it
 * federates for), its findings in audit severities. Key file modes are the
 * files check's (`key-mode`).
 */
import {checkHosts} from '../../tls/check.js'
import {type AuditFinding, fromTlsSeverity} from '../findings.js'
import type {Check} from './types.js'

export const certificatesCheck: Check = {
  id: 'certificates',
  description: 'every host covered by a certificate; expiry, key strength, signature algorithm, chain (as "cert check")',
  findings: ['cert-missing', 'cert-wrong-host', 'cert-unreadable', 'cert-not-yet-valid', 'cert-expired', 'cert-expires-soon', 'cert-key-missing', 'cert-key-unusable', 'cert-key-mismatch', 'cert-key-weak', 'cert-key-eddsa', 'cert-signature-weak', 'cert-chain-order', 'cert-self-signed', 'cert-untrusted', 'cert-service-uncovered'],
  async run({config, now}) {
    const result = checkHosts(config, undefined, now)
    return result.findings
      .filter((finding) => finding.id !== 'cert-key-readable')
      .map((finding): AuditFinding => ({...finding, severity: fromTlsSeverity(finding.severity)}))
  },
}
