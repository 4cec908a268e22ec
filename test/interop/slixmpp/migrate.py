"""slixmpp as the users of a server that is migrated, for
test/integration/migrate/real-clients.test.ts. Runs under /usr/bin/python3
(Debian python3-slixmpp); prints JSON lines; every wait is bounded.

args["scenario"] == "fill" (on Prosody or ejabberd): alice, bob and carol
log in; alice puts bob in group "Friends" as "Bob" and they subscribe to each
other; carol asks alice for a subscription, which alice leaves pending;
alice publishes her vCard and her bookmarks (args["bookmarks"]: "pep" for
XEP-0402, "private" for XEP-0048 in XEP-0049 private storage); alice and bob
exchange args["chat"]; alice logs out, and once bob has seen her
unavailable presence he sends her args["offline"].

args["scenario"] == "read" (on xmppctl start): alice logs in and prints her
roster, the subscription requests and messages that reach her after her
initial presence, her vCard, her bookmarks both ways, and her archive with
bob (XEP-0313)."""
import asyncio
import time
from xml.etree import ElementTree

import slixmpp
from slixmpp.exceptions import IqError
from slixmpp.plugins.xep_0048 import Bookmarks

from common import TestClient, args, emit

HOST = args["host"]
BOOKMARKS = "urn:xmpp:bookmarks:1"
PLUGINS = ["xep_0004", "xep_0054", "xep_0049", "xep_0048", "xep_0060", "xep_0203", "xep_0313"]


def bare(user):
    return f"{user}@{HOST}"


class User(TestClient):
    def __init__(self, user):
        super().__init__(f"{bare(user)}/slix", args["passwords"][user])
        for plugin in PLUGINS:
            self.register_plugin(plugin)
        # Subscription requests are answered by the scenario, not by slixmpp.
        self.auto_authorize = None
        self.auto_subscribe = False
        self.stanzas = []
        self.add_event_handler("message", self.stanzas.append)
        for kind in ("presence_subscribe", "presence_unavailable"):
            self.add_event_handler(kind, self.stanzas.append)

    async def login(self):
        session = asyncio.ensure_future(self.wait_until("session_start", 15))
        failed = asyncio.ensure_future(self.wait_until("failed_auth", 15))
        self.connect(address=("127.0.0.1", args["port"]))
        done, pending = await asyncio.wait([session, failed], timeout=15, return_when=asyncio.FIRST_COMPLETED)
        for future in pending:
            future.cancel()
        if session not in done:
            raise RuntimeError(f"{self.boundjid.bare} did not log in")
        roster = await self.get_roster(timeout=10)
        self.send_presence()
        return roster

    async def logout(self):
        self.disconnect()
        await asyncio.wait_for(self.disconnected, 10)

    async def until(self, what, predicate, timeout=10):
        """The first stanza received matching `predicate`, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for stanza in self.stanzas:
                if predicate(stanza):
                    self.stanzas.remove(stanza)
                    return stanza
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.boundjid.bare}: no {what} within {timeout} s")
            await asyncio.sleep(0.05)

    async def roster_says(self, contact, subscription, timeout=10):
        deadline = time.monotonic() + timeout
        while self.client_roster[contact]["subscription"] != subscription:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.boundjid.bare}: {contact} is {self.client_roster[contact]['subscription']}, not {subscription}")
            await asyncio.sleep(0.05)


def presence(kind, sender):
    return lambda stanza: stanza.name == "presence" and stanza["type"] == kind and stanza["from"].bare == sender


def message_from(sender, body):
    return lambda stanza: stanza.name == "message" and stanza["from"].bare == sender and stanza["body"] == body


async def publish_bookmarks(alice):
    if args["bookmarks"] == "pep":
        # XEP-0402 §3.3: the publish-options every client sends.
        options = alice["xep_0004"].make_form(ftype="submit")
        options.add_field(var="FORM_TYPE", ftype="hidden", value="http://jabber.org/protocol/pubsub#publish-options")
        for var, value in [("persist_items", "true"), ("max_items", "max"), ("send_last_published_item", "never"), ("access_model", "whitelist")]:
            options.add_field(var=f"pubsub#{var}", value=value)
        for room in args["rooms"]:
            conference = ElementTree.Element(f"{{{BOOKMARKS}}}conference", {"name": room["name"], "autojoin": room["autojoin"]})
            ElementTree.SubElement(conference, f"{{{BOOKMARKS}}}nick").text = room["nick"]
            await alice["xep_0060"].publish(alice.boundjid.bare, BOOKMARKS, id=room["jid"], payload=conference, options=options, timeout=10)
    else:
        bookmarks = Bookmarks()
        for room in args["rooms"]:
            bookmarks.add_conference(room["jid"], room["nick"], name=room["name"], autojoin=room["autojoin"] == "true")
        await alice["xep_0048"].set_bookmarks(bookmarks, timeout=10)


async def fill():
    alice, bob, carol = User("alice"), User("bob"), User("carol")
    await alice.login()
    await bob.login()
    await carol.login()
    # RFC 6121 §3: alice adds bob with a group, asks, bob approves and asks back, alice approves.
    await alice.update_roster(bare("bob"), name="Bob", groups=["Friends"], timeout=10)
    alice.send_presence(pto=bare("bob"), ptype="subscribe")
    await bob.until("subscribe from alice", presence("subscribe", bare("alice")))
    bob.send_presence(pto=bare("alice"), ptype="subscribed")
    bob.send_presence(pto=bare("alice"), ptype="subscribe")
    await alice.until("subscribe from bob", presence("subscribe", bare("bob")))
    alice.send_presence(pto=bare("bob"), ptype="subscribed")
    await alice.roster_says(bare("bob"), "both")
    await bob.roster_says(bare("alice"), "both")
    emit(event="subscribed")

    # carol asks; alice sees it and leaves it pending.
    carol.send_presence(pto=bare("alice"), ptype="subscribe")
    await alice.until("subscribe from carol", presence("subscribe", bare("carol")))
    emit(event="pending")

    vcard = alice["xep_0054"].make_vcard()
    vcard["FN"] = args["vcard"]["fn"]
    vcard["NICKNAME"] = args["vcard"]["nickname"]
    await alice["xep_0054"].publish_vcard(vcard, timeout=10)
    await publish_bookmarks(alice)
    emit(event="published")

    for sender, recipient, body in args["chat"]:
        (alice if sender == "alice" else bob).send_message(mto=bare(recipient), mbody=body, mtype="chat")
        await (bob if sender == "alice" else alice).until(f"message {body!r}", message_from(bare(sender), body))
    emit(event="chatted")

    await alice.logout()
    await bob.until("alice's unavailable presence", presence("unavailable", bare("alice")))
    for body in args["offline"]:
        bob.send_message(mto=bare("alice"), mbody=body, mtype="chat")
    # A round trip after the messages: the server has handled them once it answers.
    await bob.get_roster(timeout=10)
    emit(event="sent_offline")
    for user in (bob, carol):
        await user.logout()


async def read():
    alice = User("alice")
    roster = await alice.login()
    emit(
        event="roster",
        items={
            str(jid): {"name": item["name"], "subscription": item["subscription"], "ask": item["ask"], "groups": sorted(item["groups"])}
            for jid, item in roster["roster"]["items"].items()
        },
    )
    # Pending requests and offline messages come after the initial presence (RFC 6121 §3.1.3, XEP-0160 §3).
    requests = [str((await alice.until("a subscription request", lambda s: s.name == "presence" and s["type"] == "subscribe"))["from"])]
    emit(event="requests", jids=requests)
    offline = []
    for _ in args["offline"]:
        stanza = await alice.until("an offline message", lambda s: s.name == "message")
        offline.append({"from": str(stanza["from"]), "body": stanza["body"], "stamp": stanza["delay"]["stamp"].isoformat() if stanza["delay"]["stamp"] else None})
    emit(event="offline", messages=offline)

    result = await alice["xep_0054"].get_vcard(slixmpp.JID(bare("alice")), local=False, timeout=10)
    emit(event="vcard", fn=result["vcard_temp"]["FN"], nickname=result["vcard_temp"]["NICKNAME"])

    try:
        items = await alice["xep_0060"].get_items(bare("alice"), BOOKMARKS, timeout=10)
        rooms = [
            {"jid": item["id"], "name": item["payload"].get("name"), "autojoin": item["payload"].get("autojoin"), "nick": item["payload"].findtext(f"{{{BOOKMARKS}}}nick")}
            for item in items["pubsub"]["items"]
        ]
        emit(event="pep_bookmarks", rooms=rooms)
    except IqError as error:
        emit(event="pep_bookmarks", error=error.condition)
    private = await alice["xep_0048"].get_bookmarks(timeout=10)
    emit(
        event="private_bookmarks",
        rooms=[
            {"jid": str(conference["jid"]), "name": conference["name"], "autojoin": conference["autojoin"], "nick": conference["nick"]}
            for conference in private["private"]["bookmarks"]["conferences"]
        ],
    )

    archive = await alice["xep_0313"].retrieve(with_jid=slixmpp.JID(bare("bob")), timeout=10)
    emit(
        event="archive",
        messages=[
            {"from": message["mam_result"]["forwarded"]["stanza"]["from"].bare, "body": message["mam_result"]["forwarded"]["stanza"]["body"]}
            for message in archive["mam"]["results"]
        ],
    )
    await alice.logout()


async def main():
    try:
        await asyncio.wait_for(fill() if args["scenario"] == "fill" else read(), args.get("timeout", 60))
        emit(event="done")
    except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
        emit(event="exception", error=repr(error))


asyncio.get_event_loop().run_until_complete(main())
