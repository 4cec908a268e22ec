"""What the slixmpp scripts share: their one JSON argument, JSON lines out,
a client that trusts the test server's self-signed certificate, and a run
bounded by args["timeout"]. Runs under /usr/bin/python3 (Debian python3-slixmpp)."""
import asyncio
import json
import ssl
import sys

import slixmpp

args = json.loads(sys.argv[1])


def emit(**fields):
    print(json.dumps(fields), flush=True)


class TestClient(slixmpp.ClientXMPP):
    def __init__(self, jid=None, password=None):
        super().__init__(jid or args["jid"], password or args["password"], sasl_mech=args.get("mechanism"))
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if args.get("tls12"):
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        self.ssl_context = ctx
        # GSSAPI's target is xmpp@SERVICE-NAME, slixmpp's name for the host it resolved: none when connecting to an address.
        if args.get("service_name"):
            self.credentials["service-name"] = args["service_name"]


def run(client):
    # args["address"]: [host, port] of a server elsewhere (the federation tests' Prosody); else args["port"] on 127.0.0.1.
    host, port = args.get("address") or ("127.0.0.1", args["port"])
    client.connect(address=(host, port), use_ssl=args.get("direct_tls", False))
    client.loop.run_until_complete(asyncio.wait_for(client.disconnected, args.get("timeout", 20)))


class ScenarioClient(TestClient):
    """A client that registers `plugins`, runs its scenario() once the session
    starts, and disconnects when it is done or failed."""

    def __init__(self, *plugins):
        super().__init__()
        for plugin in plugins:
            self.register_plugin(plugin)
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("failed_auth", lambda _: (emit(event="failed_auth"), self.disconnect()))

    async def start(self, _):
        emit(event="session", jid=str(self.boundjid))
        try:
            await self.scenario()
        finally:
            self.disconnect()

    async def scenario(self):
        raise NotImplementedError
