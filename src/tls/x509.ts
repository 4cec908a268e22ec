/**
 * Loads @peculiar/x509 with Node's WebCrypto. Chosen because it builds
 * certificates and CSRs on WebCrypto keys (no OpenSSL binary, no native
 * addon), is typed, maintained by the PKI.js authors, and lets us add raw
 * extensions for XMPP's otherName entries. Its DI container (tsyringe) needs
 * reflect-metadata loaded first.
 */
import 'reflect-metadata'
import {webcrypto} from 'node:crypto'

import * as x509 from '@peculiar/x509'

x509.cryptoProvider.set(webcrypto as unknown as Crypto)

export {x509}
