"""What the slixmpp scripts of the interop tests share: their JSON argument,
JSON-line output, and a TLS context for the test servers' self-signed
certificates."""
import json
import ssl
import sys

args = json.loads(sys.argv[1])


def emit(**fields):
    print(json.dumps(fields), flush=True)


def test_tls_context(tls12=False):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx
