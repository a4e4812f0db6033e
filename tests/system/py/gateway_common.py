"""What the rsm-gateway scenarios share (gateway_rfb, gateway_web, xpra):
its journal entries as dicts, and the test certificate in gateway.toml."""

import json
import os

from systest import run

CERT, KEY = "/etc/rsm/gateway-test-cert.pem", "/etc/rsm/gateway-test-key.pem"


def journal(**match):
    """rsm-gateway's journal entries (dicts) whose fields equal `match`."""
    out = run("journalctl", "--no-pager", "-o", "json", "-t", "rsm-gateway").stdout
    entries = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [e for e in entries if all(e.get(k) == v for k, v in match.items())]


def configure_certificate():
    """A self-signed certificate for 127.0.0.1 in gateway.toml's [tls], made
    once; the key readable by the gateway's transient user (group
    rsm-gateway) only. Returns the certificate's path."""
    os.makedirs("/etc/rsm", exist_ok=True)
    if not os.path.exists(CERT):
        r = run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", KEY, "-out", CERT)
        assert r.returncode == 0, r.stderr
        run("chgrp", "rsm-gateway", KEY)
        os.chmod(KEY, 0o640)
    with open("/etc/rsm/gateway.toml", "w") as f:
        f.write(f'[tls]\ncertificate = "{CERT}"\nkey = "{KEY}"\n')
    return CERT
