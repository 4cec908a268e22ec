"""slixmpp's XEP-0060 plugin as a XEP-0402 client against mod_pep: logs in,
optionally publishes args["publish"] ({room, name, nick}) as a bookmark on
urn:xmpp:bookmarks:1, then reads the node and prints a JSON line with its
rooms. Runs under /usr/bin/python3 (Debian python3-slixmpp)."""
from xml.etree import ElementTree

from common import ScenarioClient, args, emit, run

NODE = "urn:xmpp:bookmarks:1"


class Client(ScenarioClient):
    def __init__(self):
        super().__init__("xep_0060")

    async def scenario(self):
        own = self.boundjid.bare
        if args.get("publish"):
            room = args["publish"]
            conference = ElementTree.Element(f"{{{NODE}}}conference", {"name": room["name"], "autojoin": "true"})
            ElementTree.SubElement(conference, f"{{{NODE}}}nick").text = room["nick"]
            await self["xep_0060"].publish(own, NODE, id=room["room"], payload=conference)
            emit(event="published")
        result = await self["xep_0060"].get_items(own, NODE)
        rooms = []
        for item in result["pubsub"]["items"]:
            payload = item["payload"]
            rooms.append({"jid": item["id"], "name": payload.get("name"), "autojoin": payload.get("autojoin"), "nick": payload.findtext(f"{{{NODE}}}nick")})
        emit(event="bookmarks", rooms=rooms)


run(Client())
