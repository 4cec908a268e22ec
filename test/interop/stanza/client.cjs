// StanzaJS (npm stanza) as a real web client: logs in over the transport and
// URL given, sends one chat message, waits for one back, and prints JSON lines.
// Run by test/interop/stanza.test.ts with NODE_EXTRA_CA_CERTS set to the test
// server's certificate, so TLS is verified as a browser would.
'use strict'
const {createClient} = require('stanza')

const args = JSON.parse(process.argv[2])
const print = (event) => process.stdout.write(`${JSON.stringify(event)}\n`)
const transports = args.transport === 'websocket' ? {websocket: args.url, bosh: false} : {websocket: false, bosh: args.url}
const client = createClient({jid: args.jid, password: args.password, resource: args.resource, transports})
const timer = setTimeout(() => {
  print({event: 'timeout'})
  process.exit(2)
}, 20000)
client.on('session:started', async () => {
  print({event: 'session', jid: client.jid, transport: client.transport?.constructor?.name})
  client.sendPresence()
  client.sendMessage({to: args.to, type: 'chat', body: args.body})
  print({event: 'sent'})
})
client.on('chat', (message) => {
  print({event: 'message', from: message.from, body: message.body})
  clearTimeout(timer)
  client.disconnect()
})
// Over BOSH, StanzaJS 12 reports the server's terminate body as its transport's disconnection and may
// leave the event loop empty before it emits 'disconnected': either one means the session ended.
let ended = false
const disconnected = () => {
  if (ended) return
  ended = true
  print({event: 'disconnected'})
  process.exit(0)
}
client.on('--transport-disconnected', disconnected)
client.on('disconnected', disconnected)
client.on('auth:failed', () => {
  print({event: 'auth-failed'})
  process.exit(1)
})
client.connect()
