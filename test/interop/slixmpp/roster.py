"""slixmpp's roster handling against the server's roster versioning
(RFC 6121 §2.6) and pre-approval (§3.4): starts from a cached roster
version args["ver"], fetches the roster, then adds args["add"] and
pre-approves args["preapprove"] (each when given), and prints JSON lines of
the stream features it saw, what the roster get brought, and each push.
Runs under /usr/bin/python3 (Debian python3-slixmpp)."""
import asyncio

from common import TestClient, args, emit, run


class Client(TestClient):
    def __init__(self):
        super().__init__()
        self.pushes = asyncio.Queue()
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("roster_update", self.roster_update)

    def roster_update(self, iq):
        if iq["type"] == "set":
            self.pushes.put_nowait(iq)

    async def push(self):
        iq = await asyncio.wait_for(self.pushes.get(), 5)
        items = {str(jid): {"subscription": item["subscription"], "approved": item["approved"]} for jid, item in iq["roster"]["items"].items()}
        emit(event="push", ver=iq["roster"]["ver"], items=items)

    async def start(self, _):
        try:
            emit(event="features", rosterver="rosterver" in self.features, preapproval="preapproval" in self.features)
            self.client_roster.version = args["ver"]
            result = await self.get_roster()
            emit(event="roster", ver=self.client_roster.version, items=sorted(str(jid) for jid in result["roster"]["items"]))
            if args.get("add"):
                await self.update_roster(args["add"], name="Bob")
                await self.push()
            if args.get("preapprove"):
                self.send_presence(pto=args["preapprove"], ptype="subscribed")
                await self.push()
        except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
            emit(event="exception", error=repr(error))
        self.disconnect()


run(Client())
