"""slixmpp's XEP-0077 plugin changes the logged-in account's password
against mod_register, for the interop tests: logs in, asks for
change_password(args["new_password"]), and prints a JSON line with the
outcome (or the stanza error). Runs under /usr/bin/python3 (Debian
python3-slixmpp)."""
from slixmpp.exceptions import IqError

from common import TestClient, args, emit, run


class Client(TestClient):
    def __init__(self):
        super().__init__()
        self.register_plugin("xep_0077")
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("failed_auth", lambda _: (emit(event="failed_auth"), self.disconnect()))

    async def start(self, _):
        emit(event="session", jid=str(self.boundjid))
        try:
            if args.get("new_password") is not None:
                try:
                    await self["xep_0077"].change_password(args["new_password"])
                    emit(event="changed")
                except IqError as error:
                    emit(event="change_error", condition=error.condition, type=error.etype)
        finally:
            self.disconnect()


run(Client())
