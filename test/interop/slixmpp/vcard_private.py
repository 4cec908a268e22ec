"""slixmpp's vCard (XEP-0054) and private-storage bookmarks (XEP-0048 over
XEP-0049) against the server, for the interop tests: logs in, optionally
publishes a vCard and stores bookmarks, reads the vCards of the JIDs in
"read" and its bookmarks, and prints a JSON line for each answer.
Runs under /usr/bin/python3 (Debian python3-slixmpp)."""
import slixmpp
from slixmpp.exceptions import IqError
from slixmpp.plugins.xep_0048 import Bookmarks

from common import ScenarioClient, args, emit, run


class Client(ScenarioClient):
    def __init__(self):
        super().__init__("xep_0054", "xep_0049", "xep_0048")

    async def scenario(self):
        if args.get("publish"):
            vcard = self["xep_0054"].make_vcard()
            vcard["FN"] = args["publish"]["fn"]
            vcard["NICKNAME"] = args["publish"]["nickname"]
            await self["xep_0054"].publish_vcard(vcard)
            emit(event="published")
            bookmarks = Bookmarks()
            bookmarks.add_conference(args["publish"]["room"], args["publish"]["nickname"], name="Tea party", autojoin=True)
            await self["xep_0048"].set_bookmarks(bookmarks)
            emit(event="bookmarked")
        for jid in args.get("read", []):
            try:
                result = await self["xep_0054"].get_vcard(slixmpp.JID(jid))
                vcard = result["vcard_temp"]
                emit(event="vcard", jid=jid, fn=vcard["FN"], nickname=vcard["NICKNAME"])
            except IqError as error:
                emit(event="vcard_error", jid=jid, condition=error.condition, type=error.etype)
        result = await self["xep_0048"].get_bookmarks()
        conferences = [
            {"jid": str(conf["jid"]), "nick": conf["nick"], "name": conf["name"], "autojoin": conf["autojoin"]}
            for conf in result["private"]["bookmarks"]["conferences"]
        ]
        emit(event="bookmarks", conferences=conferences)


run(Client())
