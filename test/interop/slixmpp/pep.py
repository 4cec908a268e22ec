"""slixmpp's XEP-0163 and XEP-0172 plugins against mod_pep: three clients
(args["publisher"], args["subscribed"], args["stranger"], each {jid,
password}) log in with entity capabilities that ask for nickname
notifications; the publisher publishes args["nick"]; prints JSON lines of
which of the other two heard of it. Runs under /usr/bin/python3 (Debian
python3-slixmpp)."""
import asyncio

from common import TestClient, args, emit


class Client(TestClient):
    def __init__(self, account):
        super().__init__(account["jid"], account["password"])
        for plugin in ("xep_0030", "xep_0115", "xep_0163", "xep_0172"):
            self.register_plugin(plugin)
        self.started = asyncio.get_event_loop().create_future()
        self.nicks = asyncio.Queue()
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("user_nick_publish", lambda msg: self.nicks.put_nowait(msg))

    async def start(self, _):
        self.send_presence()
        self.started.set_result(True)


async def heard(client, seconds):
    try:
        msg = await asyncio.wait_for(client.nicks.get(), seconds)
        return {"frm": str(msg["from"]), "nick": msg["pubsub_event"]["items"]["item"]["payload"].text}
    except asyncio.TimeoutError:
        return None


async def main():
    clients = {name: Client(args[name]) for name in ("publisher", "subscribed", "stranger")}
    try:
        for client in clients.values():
            client.connect(address=("127.0.0.1", args["port"]))
        await asyncio.wait_for(asyncio.gather(*(client.started for client in clients.values())), 10)
        emit(event="online")
        await clients["publisher"].plugin["xep_0172"].publish_nick(args["nick"])
        emit(event="published")
        emit(event="subscribed", heard=await heard(clients["subscribed"], 5))
        # The subscribed contact heard it: the stranger, if anyone, would have too by now.
        emit(event="stranger", heard=await heard(clients["stranger"], 1))
    except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
        emit(event="exception", error=repr(error))
    for client in clients.values():
        client.disconnect()


asyncio.get_event_loop().run_until_complete(asyncio.wait_for(main(), args.get("timeout", 20)))
