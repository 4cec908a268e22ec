"""A user on a peer server for the federation tests: logs in to
args["address"] (host, port) as args["jid"], accepts every subscription
request and asks for one back (so a subscription ends in "both"), answers
each chat message with "echo: BODY" (unless it is an echo already), sends
args["send"] = {to, body} once logged in, and subscribes to args["subscribe"]
when given. Prints JSON lines: session, each message, each roster change
with its subscription, each available presence. Runs until killed or
args["timeout"]. Runs under /usr/bin/python3 (Debian python3-slixmpp)."""
import asyncio
import ssl

from common import TestClient, args, emit


class Peer(TestClient):
    def __init__(self):
        super().__init__()
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")
        self.roster.auto_authorize = True
        self.roster.auto_subscribe = True
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("message", self.message)
        self.add_event_handler("roster_update", self.roster_update)
        self.add_event_handler("presence_available", lambda p: emit(event="available", jid=str(p["from"])))
        self.add_event_handler("failed_auth", lambda _: emit(event="failed_auth"))

    async def start(self, _):
        await self.get_roster()
        self.send_presence()
        emit(event="session", jid=str(self.boundjid))
        send = args.get("send")
        if send:
            self.send_message(mto=send["to"], mbody=send["body"], mtype="chat")
        if args.get("subscribe"):
            self.send_presence(pto=args["subscribe"], ptype="subscribe")

    def message(self, msg):
        body = msg["body"]
        emit(event="message", type=msg["type"], frm=str(msg["from"]), body=body,
             error=msg["error"]["condition"] if msg["type"] == "error" else None)
        if msg["type"] == "chat" and not body.startswith("echo: "):
            msg.reply("echo: " + body).send()

    def roster_update(self, iq):
        for jid, item in iq["roster"]["items"].items():
            emit(event="roster", contact=str(jid), subscription=item["subscription"], ask=item["ask"])


client = Peer()
host, port = args["address"]
if args.get("cafile"):
    ctx = ssl.create_default_context(cafile=args["cafile"])
    client.ssl_context = ctx
client.connect(address=(host, port))
client.loop.run_until_complete(asyncio.wait_for(client.disconnected, args.get("timeout", 60)))
