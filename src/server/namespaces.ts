/** XML namespaces the server speaks. */
export const NS = {
  stream: 'http://etherx.jabber.org/streams',
  client: 'jabber:client',
  streams: 'urn:ietf:params:xml:ns:xmpp-streams',
  stanzas: 'urn:ietf:params:xml:ns:xmpp-stanzas',
  tls: 'urn:ietf:params:xml:ns:xmpp-tls',
  sasl: 'urn:ietf:params:xml:ns:xmpp-sasl',
  bind: 'urn:ietf:params:xml:ns:xmpp-bind',
  session: 'urn:ietf:params:xml:ns:xmpp-session',
  saslChannelBinding: 'urn:xmpp:sasl-cb:0',
  roster: 'jabber:iq:roster',
  discoInfo: 'http://jabber.org/protocol/disco#info',
  discoItems: 'http://jabber.org/protocol/disco#items',
  ping: 'urn:xmpp:ping',
  version: 'jabber:iq:version',
  delay: 'urn:xmpp:delay',
} as const
