"""nbxmpp (Gajim's XMPP library, Debian python3-nbxmpp) across a lost
connection, on a GLib main loop: logs in with STARTTLS through args["port"]
(the test's cuttable proxy) as args["jid"], which enables stream management
with resumption, and when the connection drops without a closing stream,
connects again, at most args["reconnects"] times, and resumes, or binds anew
if the server refuses. It prints a JSON line for each step (session,
sm_enabled, message, settled once a ping after the args["settle_after"]th
message came back, lost, resumed, sm_failed: the names sm_resume.py of
slixmpp prints) and, once it holds
args["expect"] message bodies and a ping round trip brought no more, the
bodies in the order they arrived, then disconnects. The run is bounded by
args["timeout"] seconds. Runs under /usr/bin/python3."""
import json
import sys

from nbxmpp.client import Client
from nbxmpp.const import ConnectionProtocol, ConnectionType
from nbxmpp.namespaces import Namespace
from nbxmpp.protocol import JID, Iq, Presence
from nbxmpp.structs import StanzaHandler

from gi.repository import GLib  # after nbxmpp, which picks the GI versions

args = json.loads(sys.argv[1])
loop = GLib.MainLoop()
state = {"bodies": [], "reconnects": 0, "finishing": False, "failed": False}


def emit(**fields):
    print(json.dumps(fields), flush=True)


def stop():
    state["finishing"] = True
    client.disconnect()


def ping(then):
    iq = Iq("get", to=JID.from_string(client.domain))
    iq.addChild(name="ping", namespace=Namespace.PING)
    client.send_stanza(iq, callback=lambda _client, _stanza: then())


def on_connected(_client, _signal):
    emit(event="session", jid=str(client.get_bound_jid()))
    # Initial presence: the server delivers offline messages after it.
    client.send_stanza(Presence())


def on_enabled(_client, stanza, _properties):
    emit(event="sm_enabled", id=stanza.getAttr("id"), resume=stanza.getAttr("resume") in ("true", "1"))


def on_stanza_received(_client, _signal, stanza):
    # While it resumes, nbxmpp hands <failed/> to its state machine, not to handlers: it is read here.
    if stanza.getName() == "failed" and stanza.getNamespace() == Namespace.STREAM_MGMT:
        conditions = [child.getName() for child in stanza.getChildren() if child.getName() != "text"]
        state["failed_condition"] = conditions[0] if conditions else None


def on_message(_client, _stanza, properties):
    if not properties.body:
        return
    state["bodies"].append(properties.body)
    emit(event="message", body=properties.body)
    if len(state["bodies"]) == args.get("settle_after"):
        # Sent after the rest of the data that brought the message: an <r/>
        # there is answered before it, so the pong means the server has the acknowledgement.
        GLib.idle_add(lambda: ping(lambda: emit(event="settled")) and False)
    if len(state["bodies"]) == args["expect"] and not state["finishing"]:
        state["finishing"] = True
        # A duplicate sent in the same burst would arrive before the pong.
        ping(lambda: (emit(event="received", bodies=state["bodies"]), stop()))


def on_disconnected(_client, _signal):
    if state["finishing"] or state["reconnects"] >= args.get("reconnects", 1):
        loop.quit()
        return
    state["reconnects"] += 1
    emit(event="lost", reconnects=state["reconnects"])
    client.connect()


def on_failure(name):
    def handler(_client, _signal):
        emit(event=name, error=str(client.get_error()))
        state["failed"] = True
        loop.quit()
    return handler


def on_timeout():
    emit(event="timeout")
    state["failed"] = True
    loop.quit()


jid = JID.from_string(args["jid"])
client = Client()
client.set_domain(jid.domain)
client.set_username(jid.localpart)
client.set_resource(jid.resource)
client.set_password(args["password"])
client.set_custom_host(f"127.0.0.1:{args['port']}", ConnectionProtocol.TCP, ConnectionType.START_TLS)
client.set_connection_types([ConnectionType.START_TLS])
client.set_protocols([ConnectionProtocol.TCP])
# The test server's certificate is self-signed.
client.set_ignore_tls_errors(True)
client.subscribe("connected", on_connected)
client.subscribe("resume-successful", lambda _client, _signal: emit(event="resumed"))
client.subscribe("resume-failed", lambda _client, _signal: emit(event="sm_failed", condition=state.get("failed_condition")))
client.subscribe("stanza-received", on_stanza_received)
client.subscribe("disconnected", on_disconnected)
client.subscribe("connection-failed", on_failure("connection_failed"))
client.register_handler(StanzaHandler(name="enabled", callback=on_enabled, xmlns=Namespace.STREAM_MGMT))
client.register_handler(StanzaHandler(name="message", callback=on_message))
GLib.timeout_add_seconds(args.get("timeout", 30), on_timeout)
client.connect()
loop.run()
sys.exit(1 if state["failed"] else 0)
