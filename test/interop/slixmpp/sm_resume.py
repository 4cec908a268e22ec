"""slixmpp's XEP-0198 plugin (resumption on) across a lost connection: logs
in through args["port"] (the test's cuttable proxy), enables stream
management, and when the connection drops without a closing stream,
connects again, at most args["reconnects"] times, and resumes, or logs in
anew if the server refuses. It prints a JSON line for each step (session,
sm_enabled, message, lost, resumed, sm_failed; settled once a ping after
the args["settle_after"]th message came back) and, once it holds
args["expect"] message bodies and a ping round trip brought no more, the
bodies in the order they arrived, then disconnects.
Runs under /usr/bin/python3 (Debian python3-slixmpp)."""
import asyncio

from common import TestClient, args, emit


class Client(TestClient):
    def __init__(self):
        super().__init__()
        self.register_plugin("xep_0198")
        self.register_plugin("xep_0199")
        self.bodies = []
        self.reconnects = 0
        self.finishing = False
        self.done = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("sm_enabled", lambda enabled: emit(event="sm_enabled", id=enabled["id"], resume=enabled["resume"]))
        self.add_event_handler("session_resumed", lambda resumed: emit(event="resumed", h=resumed["h"], previd=resumed["previd"]))
        self.add_event_handler("sm_failed", lambda failed: emit(event="sm_failed", condition=failed.xml[0].tag.split("}")[-1] if len(failed.xml) else None))
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("disconnected", self.on_disconnected)
        self.add_event_handler("failed_auth", lambda _: (emit(event="failed_auth"), self.stop()))

    def proxy_address(self):
        return ("127.0.0.1", args["port"])

    def on_session_start(self, _):
        emit(event="session", jid=str(self.boundjid))
        # Initial presence: the server delivers offline messages after it (RFC 6121 §4.2.2 via mod_offline).
        self.send_presence()

    def on_message(self, message):
        if not message["body"]:
            return
        self.bodies.append(message["body"])
        emit(event="message", body=message["body"])
        if len(self.bodies) == args.get("settle_after"):
            asyncio.ensure_future(self.settle())
        if len(self.bodies) == args["expect"] and not self.finishing:
            self.finishing = True
            asyncio.ensure_future(self.finish())

    async def settle(self):
        # Runs after the rest of the data that brought the message: an <r/>
        # there is answered before this ping, so the pong means the server
        # has the client's acknowledgement.
        await self["xep_0199"].ping(timeout=5)
        emit(event="settled", handled=self["xep_0198"].handled)

    async def finish(self):
        # A duplicate sent in the same burst would arrive before the pong.
        await self["xep_0199"].ping(timeout=5)
        emit(event="received", bodies=self.bodies)
        self.stop()

    def on_disconnected(self, _):
        if self.finishing or self.reconnects >= args.get("reconnects", 1):
            if not self.done.done():
                self.done.set_result(None)
            return
        self.reconnects += 1
        emit(event="lost", reconnects=self.reconnects)
        self.connect(address=self.proxy_address())

    def stop(self):
        self.finishing = True
        self.disconnect()


client = Client()
client.connect(address=client.proxy_address())
client.loop.run_until_complete(asyncio.wait_for(client.done, args.get("timeout", 30)))
