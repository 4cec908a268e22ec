/**
 * What a configured cipher string really admits, decided by OpenSSL: a
 * loopback TLS server is set up the way the bundled server sets up its
 * contexts (`tls.ciphers`, `tls.min_version`), with an RSA and an ECDSA
 * certificate and the configured DH parameters so that every kind of suite
 * can be chosen, and is then asked, handshake by handshake, which suites it
 * accepts. Nothing here reads the string itself.
 */
import net from 'node:net'
import tls from 'node:tls'

import {osErrorText} from '../errors.js'
import {generateKey} from '../tls/keys.js'
import {cipherList, dhParamsPem} from '../tls/policy.js'
import {x509} from '../tls/x509.js'
import {type Connector, enumerateSuites} from './handshake.js'
import type {SuiteInfo} from './suites.js'

interface Pair {
  key: string
  cert: string
}

let throwaway: Promise<Pair[]> | undefined

/** An RSA-2048 and a P-256 self-signed certificate, made once per process, never written to disk. */
function throwawayCertificates(): Promise<Pair[]> {
  throwaway ??= Promise.all(
    (['rsa:2048', 'ec:p256'] as const).map(async (spec) => {
      const key = await generateKey(spec)
      const certificate = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: '01',
        name: 'CN=xmppctl-audit.invalid',
        notBefore: new Date(Date.now() - 3_600_000),
        notAfter: new Date(Date.now() + 86_400_000),
        keys: key.keys,
        signingAlgorithm: key.signingAlgorithm,
      })
      return {key: key.pem, cert: certificate.toString('pem')}
    }),
  )
  return throwaway
}

/** The DH parameters `tls.dhparam` names, as PEM; undefined when they cannot be read (another check says why). */
export function readableDhParams(value: string, base: string): string | undefined {
  try {
    return dhParamsPem(value, base)
  } catch {
    return undefined
  }
}

export type CipherPolicy =
  | {valid: true; tls12: SuiteInfo[]; tls13: SuiteInfo[]}
  | {valid: false; reason: string}

/**
 * The suites a server configured with `ciphers` and `minVersion` accepts:
 * those of TLS 1.2 (the legacy list, a superset of what TLS 1.0/1.1 can
 * use) unless TLS 1.3 is the minimum, and those of TLS 1.3.
 */
export async function expandCipherPolicy(ciphers: string, minVersion: tls.SecureVersion, dhparam: string | undefined): Promise<CipherPolicy> {
  const certificates = await throwawayCertificates()
  const options = (withDh: boolean): tls.SecureContextOptions => ({
    key: certificates.map((pair) => pair.key),
    cert: certificates.map((pair) => pair.cert),
    minVersion,
    ciphers: cipherList(ciphers),
    ...(withDh && dhparam ? {dhparam} : {}),
  })
  let context = options(true)
  try {
    tls.createSecureContext(context)
  } catch (error) {
    // OpenSSL 3.5 (Node 24) refuses DH parameters below its security level when the context is made:
    // the dh-* findings judge the parameters, and the cipher string is judged without them.
    context = options(false)
    try {
      if (!dhparam) throw error
      tls.createSecureContext(context)
    } catch {
      return {valid: false, reason: osErrorText(error).replace(/^error:[0-9A-F]+:SSL routines::/, '')}
    }
  }

  const server = tls.createServer(context, (socket) => {
    socket.on('error', () => {})
    socket.end()
  })
  server.on('tlsClientError', () => {})
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as net.AddressInfo
  const connect: Connector = () =>
    new Promise((resolve, reject) => {
      const socket = net.connect({port, host: '127.0.0.1'}, () => resolve(socket))
      socket.once('error', reject)
    })
  try {
    const base = {timeoutMs: 5000}
    const tls12 = minVersion === 'TLSv1.3' ? {accepted: []} : await enumerateSuites(connect, 'TLSv1.2', base)
    const tls13 = await enumerateSuites(connect, 'TLSv1.3', base)
    return {valid: true, tls12: tls12.accepted.map((entry) => entry.suite), tls13: tls13.accepted.map((entry) => entry.suite)}
  } finally {
    server.close()
  }
}
