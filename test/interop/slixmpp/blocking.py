"""slixmpp's XEP-0191 plugin against the server: fetches the blocklist,
blocks args["block"], writes to args["message_to"] (blocked), unblocks
args["unblock"] (all when empty), and prints JSON lines of what it saw:
the lists, the pushes, the error its message got.
Runs under /usr/bin/python3 (Debian python3-slixmpp)."""
import asyncio

from common import TestClient, args, emit, run


def jids(items):
    return sorted(str(jid) for jid in items)


class Client(TestClient):
    def __init__(self):
        super().__init__()
        self.register_plugin("xep_0191")
        self.pushes = asyncio.Queue()
        self.errors = asyncio.Queue()
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("blocked", lambda iq: self.pushes.put_nowait(("block", jids(iq["block"]["items"]))))
        self.add_event_handler("unblocked", lambda iq: self.pushes.put_nowait(("unblock", jids(iq["unblock"]["items"]))))
        self.add_event_handler("message_error", lambda msg: self.errors.put_nowait(msg))

    async def push(self):
        action, items = await asyncio.wait_for(self.pushes.get(), 5)
        emit(event="push", action=action, items=items)

    async def start(self, _):
        try:
            blocking = self.plugin["xep_0191"]
            listed = await blocking.get_blocked()
            emit(event="blocklist", items=jids(listed["blocklist"]["items"]))
            await blocking.block(args["block"])
            emit(event="blocked")
            await self.push()
            self.send_message(mto=args["message_to"], mbody="can you hear me now?", mtype="chat")
            error = await asyncio.wait_for(self.errors.get(), 5)
            emit(event="message_error", frm=str(error["from"]), condition=error["error"]["condition"],
                 blocked=error.xml.find(".//{urn:xmpp:blocking:errors}blocked") is not None)
            await blocking.unblock(args["unblock"])
            emit(event="unblocked")
            await self.push()
            listed = await blocking.get_blocked()
            emit(event="blocklist", items=jids(listed["blocklist"]["items"]))
        except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
            emit(event="exception", error=repr(error))
        self.disconnect()


run(Client())
