"""What the slixmpp scripts share: JSON-line output, and TLS that accepts the test servers' self-signed certificates."""
import json
import ssl


def emit(**fields):
    print(json.dumps(fields), flush=True)


def tls_context(tls12=False):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx
