"""One slixmpp client for the interop tests: logs in with a pinned mechanism,
optionally sends a message and waits for one, prints JSON lines of what it saw.
Runs under /usr/bin/python3 (Debian python3-slixmpp)."""
import asyncio
import json
import sys

import slixmpp

from common import emit, tls_context

args = json.loads(sys.argv[1])


class Client(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(args["jid"], args["password"], sasl_mech=args.get("mechanism"))
        self.ssl_context = tls_context(args.get("tls12", False))
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("message", self.message)
        self.add_event_handler("failed_auth", lambda _: (emit(event="failed_auth"), self.disconnect()))
        self.add_event_handler("presence_available", lambda p: emit(event="presence", frm=str(p["from"])))

    async def start(self, _):
        emit(event="session", jid=str(self.boundjid), mechanism=self.plugin["feature_mechanisms"].mech.name,
             tls=self.socket.version() if hasattr(self.socket, "version") else None)
        self.send_presence()
        await self.get_roster()
        if args.get("send_to"):
            await asyncio.sleep(0.3)
            self.send_message(mto=args["send_to"], mbody=args["body"], mtype="chat")
            emit(event="sent")
        if not args.get("wait_message"):
            self.disconnect()

    def message(self, msg):
        emit(event="message", frm=str(msg["from"]), body=msg["body"])
        self.disconnect()


client = Client()
client.connect(address=("127.0.0.1", args["port"]), use_ssl=args.get("direct_tls", False))
client.loop.run_until_complete(asyncio.wait_for(client.disconnected, args.get("timeout", 20)))
