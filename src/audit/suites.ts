/**
 * What a negotiated cipher suite is, read from its IANA name as OpenSSL
 * reports it after a real handshake (`getCipher().standardName`), e.g.
 * `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256` or the TLS 1.3
 * `TLS_AES_256_GCM_SHA384`. Only suites a handshake actually agreed on are
 * classified: which suites a cipher string admits is OpenSSL's to say.
 */
export interface SuiteInfo {
  /** OpenSSL's name, e.g. `ECDHE-RSA-AES128-GCM-SHA256`. */
  name: string
  /** The IANA name. */
  standardName: string
  /** Key exchange, e.g. `ECDHE_RSA`; `TLS13` for TLS 1.3 suites (always (EC)DHE). */
  keyExchange: string
  /** Ephemeral key exchange, so a stolen server key does not decrypt recorded traffic. */
  forwardSecrecy: boolean
  /** Authenticated encryption (GCM, CCM, ChaCha20-Poly1305). */
  aead: boolean
  /** Symmetric key strength in bits (3DES counts 112, its real strength). */
  bits: number
  /** No server authentication at all (`anon`). */
  anonymous: boolean
  nullCipher: boolean
  export: boolean
  rc4: boolean
  tripleDes: boolean
}

const BITS: Array<[RegExp, number]> = [
  [/^NULL/, 0],
  [/EXPORT.*40|_40_|DES40/, 40],
  [/^DES_CBC(?!3)/, 56],
  [/^3DES/, 112],
  [/_256|^CHACHA20/, 256],
  [/_128|^RC4_128|^SEED|^IDEA/, 128],
]

export function classifySuite(name: string, standardName: string): SuiteInfo {
  const iana = standardName.toUpperCase()
  const tls13 = !iana.includes('_WITH_')
  const [kxPart, encPart] = tls13 ? ['TLS13', iana.replace(/^TLS_/, '')] : iana.replace(/^(TLS|SSL)_/, '').split('_WITH_')
  const enc = encPart ?? ''
  const bits = BITS.find(([pattern]) => pattern.test(enc))?.[1] ?? 0
  return {
    name,
    standardName,
    keyExchange: kxPart,
    forwardSecrecy: tls13 || /^(EC)?DHE(_|$)/.test(kxPart) || /^(EC)?DH_ANON/.test(kxPart),
    aead: /GCM|CCM|POLY1305/.test(enc),
    bits,
    anonymous: /ANON/.test(kxPart),
    nullCipher: /^NULL/.test(enc),
    export: /EXPORT/.test(kxPart) || /EXPORT/.test(enc),
    rc4: /^RC4/.test(enc),
    tripleDes: /^3DES/.test(enc),
  }
}
