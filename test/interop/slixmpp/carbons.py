"""One slixmpp resource for the carbons interop test (XEP-0280, slixmpp's
xep_0280 plugin): enables carbons before its initial presence if asked,
prints JSON lines for the messages and carbons it gets, answers the first
message if asked, and leaves once it has seen every event named in "expect".
Runs under /usr/bin/python3 (Debian python3-slixmpp)."""
from common import TestClient, args, emit, run


class Client(TestClient):
    def __init__(self):
        super().__init__()
        self.register_plugin("xep_0280")
        self.expect = set(args.get("expect", []))
        self.answered = False
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("message", self.message)
        # xep_0280 raises these only for carbons whose sender is the account's own bare JID.
        self.add_event_handler("carbon_received", lambda msg: self.carbon("carbon_received", msg, msg["carbon_received"]))
        self.add_event_handler("carbon_sent", lambda msg: self.carbon("carbon_sent", msg, msg["carbon_sent"]))

    async def start(self, _):
        if args.get("carbons"):
            await self.plugin["xep_0280"].enable()
            emit(event="carbons_enabled")
        self.send_presence()
        emit(event="session", jid=str(self.boundjid))

    def seen(self, event):
        self.expect.discard(event)
        if not self.expect:
            self.disconnect()

    def carbon(self, event, wrapper, inner):
        emit(event=event, frm=str(wrapper["from"]), to=str(wrapper["to"]),
             inner_from=str(inner["from"]), inner_to=str(inner["to"]), body=inner["body"])
        self.seen(event)

    def message(self, msg):
        emit(event="message", frm=str(msg["from"]), body=msg["body"])
        if args.get("answer") and not self.answered:
            self.answered = True
            self.send_message(mto=msg["from"], mbody=args["answer"], mtype="chat")
            emit(event="answered")
        self.seen("message")


run(Client())
