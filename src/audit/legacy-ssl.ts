/**
 * SSL 2.0 and 3.0, which the OpenSSL in Node no longer speaks, probed by
 * hand: a ClientHello written byte by byte, and the first bytes of the
 * answer read. A ServerHello for that very version means the server accepts
 * it; an alert, a ServerHello for another version or a closed connection
 * means it refuses. Nothing more is negotiated: acceptance is all the grade
 * needs (SSLv2 and SSLv3 cap it at F).
 *
 * SSL 3.0: RFC 6101 §5.6.1.2 (ClientHello) and §5.2.1 (record layer).
 * SSL 2.0: the Netscape specification, as summarised in RFC 6101 Appendix E.2.
 */
import {randomBytes} from 'node:crypto'

import type {Connector} from './handshake.js'

/** SSL 3.0 suites a server of that era could choose (RSA, DHE, ECDHE; RC4, 3DES, DES, AES, EXPORT). */
const SSL3_SUITES = [0x0004, 0x0005, 0x000a, 0x0009, 0x0003, 0x0006, 0x0008, 0x0016, 0x0013, 0x002f, 0x0035, 0x0033, 0x0039, 0x0041, 0x0084, 0xc009, 0xc00a, 0xc013, 0xc014, 0xc011, 0xc007]

/** SSL 2.0 cipher kinds (3 bytes each): RC4, RC2, IDEA, DES, 3DES, with their export variants. */
const SSL2_KINDS = [0x010080, 0x020080, 0x030080, 0x040080, 0x050080, 0x060040, 0x0700c0]

export function ssl3ClientHello(random: Buffer = randomBytes(32)): Buffer {
  const suites = Buffer.alloc(SSL3_SUITES.length * 2)
  SSL3_SUITES.forEach((suite, index) => suites.writeUInt16BE(suite, index * 2))
  const body = Buffer.concat([Buffer.from([0x03, 0x00]), random, Buffer.from([0x00]), Buffer.from([suites.length >> 8, suites.length & 0xff]), suites, Buffer.from([0x01, 0x00])])
  const handshake = Buffer.concat([Buffer.from([0x01, (body.length >> 16) & 0xff, (body.length >> 8) & 0xff, body.length & 0xff]), body])
  return Buffer.concat([Buffer.from([0x16, 0x03, 0x00, handshake.length >> 8, handshake.length & 0xff]), handshake])
}

export function ssl2ClientHello(challenge: Buffer = randomBytes(16)): Buffer {
  const specs = Buffer.alloc(SSL2_KINDS.length * 3)
  SSL2_KINDS.forEach((kind, index) => specs.writeUIntBE(kind, index * 3, 3))
  const body = Buffer.concat([Buffer.from([0x01, 0x00, 0x02, specs.length >> 8, specs.length & 0xff, 0x00, 0x00, 0x00, challenge.length]), specs, challenge])
  return Buffer.concat([Buffer.from([0x80 | (body.length >> 8), body.length & 0xff]), body])
}

export type LegacyVerdict = {accepted: true; detail: string} | {accepted: false; detail: string}

/** Reads the server's first answer to an SSL 3.0 ClientHello. */
export function judgeSsl3(answer: Buffer): LegacyVerdict | undefined {
  if (answer.length < 5) return undefined
  if (answer[0] === 0x15) return {accepted: false, detail: `alert${answer.length >= 7 ? ` ${answer[6]}` : ''}`}
  if (answer[0] !== 0x16) return {accepted: false, detail: 'not a TLS record'}
  if (answer.length < 11) return undefined
  // Record header (5), handshake type (1) and length (3), then ServerHello.server_version.
  if (answer[5] !== 0x02) return {accepted: false, detail: `handshake message ${answer[5]} instead of ServerHello`}
  const version = answer.readUInt16BE(9)
  if (version !== 0x0300) return {accepted: false, detail: `ServerHello for version 0x${version.toString(16)}`}
  if (answer.length < 11 + 32 + 1) return undefined
  const sessionLength = answer[43]
  if (answer.length < 44 + sessionLength + 2) return undefined
  return {accepted: true, detail: `suite 0x${answer.readUInt16BE(44 + sessionLength).toString(16).padStart(4, '0')}`}
}

/** Reads the server's first answer to an SSL 2.0 CLIENT-HELLO: SERVER-HELLO is message type 4. */
export function judgeSsl2(answer: Buffer): LegacyVerdict | undefined {
  if (answer.length < 7) return answer.length >= 5 && answer[0] === 0x15 ? {accepted: false, detail: 'alert'} : undefined
  if ((answer[0] & 0x80) === 0) return {accepted: false, detail: answer[0] === 0x15 ? 'alert' : 'not an SSL 2.0 answer'}
  if (answer[2] !== 0x04) return {accepted: false, detail: `SSL 2.0 message ${answer[2]} instead of SERVER-HELLO`}
  const version = answer.readUInt16BE(5)
  return version === 0x0002 ? {accepted: true, detail: 'SERVER-HELLO'} : {accepted: false, detail: `SERVER-HELLO for version 0x${version.toString(16)}`}
}

export type LegacyOutcome = {kind: 'accepted'; detail: string} | {kind: 'refused'; reason: string} | {kind: 'failed'; reason: string}

export async function probeLegacy(connect: Connector, protocol: 'SSLv2' | 'SSLv3', timeoutMs: number): Promise<LegacyOutcome> {
  let socket
  try {
    socket = await connect()
  } catch (error) {
    return {kind: 'failed', reason: error instanceof Error ? error.message : String(error)}
  }

  const live = socket
  return new Promise<LegacyOutcome>((resolve) => {
    let answer = Buffer.alloc(0)
    let settled = false
    const done = (outcome: LegacyOutcome) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      live.destroy()
      resolve(outcome)
    }

    const judge = protocol === 'SSLv3' ? judgeSsl3 : judgeSsl2
    const timer = setTimeout(() => done({kind: 'refused', reason: `no answer within ${timeoutMs / 1000} s`}), timeoutMs)
    live.on('data', (chunk: Buffer) => {
      answer = Buffer.concat([answer, chunk])
      const verdict = judge(answer)
      if (verdict) done(verdict.accepted ? {kind: 'accepted', detail: verdict.detail} : {kind: 'refused', reason: verdict.detail})
    })
    live.on('error', () => done({kind: 'refused', reason: 'the server closed the connection during the handshake'}))
    live.on('close', () => done({kind: 'refused', reason: 'the server closed the connection during the handshake'}))
    live.write(protocol === 'SSLv3' ? ssl3ClientHello() : ssl2ClientHello())
  })
}
