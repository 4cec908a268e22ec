/**
 * Federation policy, when an s2s listener is configured: encryption
 * required (s2s_use_starttls), certificates required of peers
 * (s2s_secure_auth; dialback otherwise), and our own s2s certificate
 * naming every host and service domain as XEP-0178 §3 asks (DNS-ID,
 * XmppAddr or SRV-ID), so that peers can authenticate us with SASL
 * EXTERNAL.
 */
import {X509Certificate} from 'node:crypto'
import {readFileSync} from 'node:fs'
import path from 'node:path'

import {serviceDomains} from '../../config/modules.js'
import {osErrorText} from '../../errors.js'
import {certificateCovers} from '../../server/s2s-identity.js'
import type {AuditFinding} from '../findings.js'
import type {Check} from './types.js'

export const s2sPolicyCheck: Check = {
  id: 's2s-policy',
  description: 'federation: s2s encryption required, s2s_secure_auth, s2s_certfile covering every host and service domain',
  findings: ['s2s-encryption-optional', 's2s-dialback-allowed', 's2s-certfile-unreadable', 's2s-certificate-wrong-host', 's2s-certificate-service-uncovered', 's2s-certificate-self-signed'],
  async run({config}) {
    const findings: AuditFinding[] = []
    const {settings} = config
    if (!settings.listen.some((listener) => listener.module === 's2s')) return findings
    if (settings.s2s_use_starttls !== 'required') {
      findings.push({
        id: 's2s-encryption-optional',
        severity: settings.s2s_use_starttls === 'false' ? 'critical' : 'warning',
        subject: 's2s_use_starttls',
        message: `s2s_use_starttls is ${settings.s2s_use_starttls}: other servers may exchange your users' messages with this one unencrypted${settings.s2s_use_starttls === 'optional' ? ', and a man in the middle can strip STARTTLS' : ''}`,
        fix: 'set s2s_use_starttls: required (the default)',
      })
    }

    if (!settings.s2s_secure_auth) {
      findings.push({
        id: 's2s-dialback-allowed',
        severity: 'info',
        subject: 's2s_secure_auth',
        message: 'peers whose certificate does not verify are accepted with dialback (XEP-0220), which trusts DNS: whoever can spoof DNS answers can pose as another server',
        fix: 'set s2s_secure_auth: true once your peers all have CA-signed certificates (many small servers still rely on dialback)',
      })
    }

    if (settings.s2s_certfile !== undefined) {
      const file = path.resolve(config.file ? path.dirname(config.file) : process.cwd(), settings.s2s_certfile)
      let certificate: X509Certificate
      try {
        certificate = new X509Certificate(readFileSync(file))
      } catch (error) {
        findings.push({id: 's2s-certfile-unreadable', severity: 'critical', subject: file, message: `s2s_certfile cannot be read as a certificate: ${osErrorText(error)}`, fix: 'point s2s_certfile at a PEM file with the certificate and its key'})
        return findings
      }

      for (const host of config.hosts) {
        if (certificateCovers(certificate, host)) continue
        findings.push({
          id: 's2s-certificate-wrong-host',
          severity: 'warning',
          subject: host,
          message: `s2s_certfile (${file}) does not name ${host}: peers cannot authenticate it with SASL EXTERNAL and fall back to dialback, or refuse it`,
          fix: `use a certificate whose subjectAltName includes DNS:${host} (or its XmppAddr or _xmpp-server SRV-ID)`,
        })
      }

      // The services' domains (conference.HOST) federate with the same certificate. Info, as cert check's notice:
      // dialback still federates them. A Set: hosts may share one service domain.
      for (const domain of new Set(config.hosts.flatMap((host) => serviceDomains(settings.modules, host)))) {
        if (certificateCovers(certificate, domain)) continue
        findings.push({
          id: 's2s-certificate-service-uncovered',
          severity: 'info',
          subject: domain,
          message: `s2s_certfile (${file}) does not name ${domain}: peers authenticate that service by dialback only, and those with s2s_secure_auth refuse it`,
          fix: `use a certificate whose subjectAltName includes DNS:${domain} as well`,
        })
      }

      if (certificate.verify(certificate.publicKey)) {
        findings.push({id: 's2s-certificate-self-signed', severity: 'warning', subject: file, message: 'the s2s certificate is self-signed: no peer can verify it, so federation relies on dialback and peers with s2s_secure_auth refuse this server', fix: 'use a CA-signed certificate (e.g. Let\'s Encrypt through "xmppctl cert import")'})
      }
    }

    return findings
  },
}
