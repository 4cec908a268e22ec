"""slixmpp's XEP-0313 plugin against the server: sends args["bodies"] to
args["send_to"] if given, then reads its archive with args["with"] whole
(retrieve) and in pages of two (iterate, XEP-0059), and prints a JSON line
for each reading: the bodies, in order, and the archive ids.
Runs under /usr/bin/python3 (Debian python3-slixmpp)."""
import slixmpp

from common import ScenarioClient, args, emit, run


def readable(message):
    result = message["mam_result"]
    return {"id": result["id"], "body": result["forwarded"]["stanza"]["body"], "from": str(result["forwarded"]["stanza"]["from"])}


class Client(ScenarioClient):
    def __init__(self):
        super().__init__("xep_0313")

    async def scenario(self):
        peer = slixmpp.JID(args["with"])
        for body in args.get("bodies", []):
            self.send_message(mto=slixmpp.JID(args["send_to"]), mbody=body, mtype="chat")
        result = await self["xep_0313"].retrieve(with_jid=peer)
        emit(event="archive", messages=[readable(message) for message in result["mam"]["results"]])
        paged = [readable(message) async for message in self["xep_0313"].iterate(with_jid=peer, rsm={"max": 2})]
        emit(event="paged", messages=paged)


run(Client())
