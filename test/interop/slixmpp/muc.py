"""slixmpp's XEP-0045 plugin against mod_muc: alice joins args["room"]
and talks; bob joins later and gets her message as history; each sees
the other's live message; alice kicks bob, who sees status 307.
Prints JSON lines of what each saw. Runs under /usr/bin/python3
(Debian python3-slixmpp)."""
import asyncio
import json
import sys

import slixmpp

from common import TestClient, args

# slixmpp 1.8.3's join_muc_wait prints each history message's delay to stdout: keep stdout for our lines.
OUT = sys.stdout
sys.stdout = sys.stderr


def emit(**fields):
    OUT.write(json.dumps(fields) + "\n")
    OUT.flush()


class Occupant(TestClient):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.register_plugin("xep_0045")
        self.messages = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.ready = asyncio.Event()
        self.add_event_handler("session_start", lambda _: self.ready.set())
        room = args["room"]
        self.add_event_handler("muc::%s::message" % room, lambda msg: self.messages.put_nowait(msg))
        self.add_event_handler("muc::%s::presence" % room, lambda pres: self.presences.put_nowait(pres))

    async def live(self):
        while True:
            msg = await asyncio.wait_for(self.messages.get(), 5)
            if msg.get_plugin("delay", check=True) is None and msg["body"]:
                return msg


async def scenario(alice, bob):
    room = slixmpp.JID(args["room"])
    muc_a, muc_b = alice.plugin["xep_0045"], bob.plugin["xep_0045"]
    own, _subject, occupants, _history = await muc_a.join_muc_wait(room, "Alice", maxstanzas=0, timeout=5)
    emit(event="joined", who="alice", codes=sorted(int(code) for code in own["muc"]["status_codes"]), affiliation=own["muc"]["affiliation"], occupants=len(occupants))
    alice.send_message(mto=room, mbody="hello from alice", mtype="groupchat")
    await alice.live()
    own, _subject, occupants, history = await muc_b.join_muc_wait(room, "Bob", maxstanzas=10, timeout=5)
    emit(event="joined", who="bob", codes=sorted(int(code) for code in own["muc"]["status_codes"]), affiliation=own["muc"]["affiliation"],
         occupants=sorted(str(pres["from"].resource) for pres in occupants), history=[str(msg["body"]) for msg in history])
    bob.send_message(mto=room, mbody="hi alice", mtype="groupchat")
    heard = await alice.live()
    emit(event="heard", who="alice", frm=str(heard["from"]), body=str(heard["body"]))
    await bob.live()
    alice.send_message(mto=room, mbody="welcome bob", mtype="groupchat")
    heard = await bob.live()
    emit(event="heard", who="bob", frm=str(heard["from"]), body=str(heard["body"]))
    await muc_a.set_role(room, "Bob", "none", reason="bye")
    while True:
        pres = await asyncio.wait_for(bob.presences.get(), 5)
        if pres["type"] == "unavailable" and pres["from"].resource == "Bob":
            emit(event="kicked", codes=sorted(int(code) for code in pres["muc"]["status_codes"]), reason=pres["muc"]["item"]["reason"])
            break
    emit(event="roster", who="alice", nicks=sorted(muc_a.get_roster(room)))


async def main():
    alice = Occupant(args["alice"], args["password_alice"])
    bob = Occupant(args["bob"], args["password_bob"])
    for client in (alice, bob):
        client.connect(address=("127.0.0.1", args["port"]))
    try:
        await asyncio.wait_for(asyncio.gather(alice.ready.wait(), bob.ready.wait()), 10)
        await scenario(alice, bob)
    except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
        emit(event="exception", error=repr(error))
    for client in (alice, bob):
        client.disconnect()
    await asyncio.wait_for(asyncio.gather(alice.disconnected, bob.disconnected), 5)


asyncio.get_event_loop().run_until_complete(main())
