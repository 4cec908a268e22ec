"""A slixmpp occupant beside another client: joins args["room"] as
args["nick"] and says so, prints each live groupchat message it hears, and
answers the first one from the nick args["expect"] with args["reply"], then
leaves once the room has reflected the answer. Runs under /usr/bin/python3
(Debian python3-slixmpp)."""
import asyncio

import slixmpp

from common import ScenarioClient, args, emit, run


class Member(ScenarioClient):
    def __init__(self):
        super().__init__("xep_0045")
        self.messages = asyncio.Queue()
        self.add_event_handler("muc::%s::message" % args["room"], lambda msg: self.messages.put_nowait(msg))

    async def scenario(self):
        room = slixmpp.JID(args["room"])
        await self.plugin["xep_0045"].join_muc_wait(room, args["nick"], maxstanzas=0, timeout=10)
        emit(event="joined")
        answered = False
        while True:
            msg = await asyncio.wait_for(self.messages.get(), args.get("timeout", 30))
            if msg.get_plugin("delay", check=True) is not None or not msg["body"]:
                continue
            sender = msg["from"].resource
            emit(event="groupchat", nick=sender, body=str(msg["body"]))
            if sender == args["expect"] and not answered:
                self.send_message(mto=room, mbody=args["reply"], mtype="groupchat")
                answered = True
            elif sender == args["nick"] and answered:
                return


run(Member())
