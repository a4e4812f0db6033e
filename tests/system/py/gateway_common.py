"""What the rsm-gateway scenarios share (gateway_rfb, gateway_web, xpra):
its journal entries as dicts, and the test certificate in gateway.toml:
self-signed, or (configure_ca_certificate) signed by a test CA that a
client such as Chromium can be told to trust."""

import json
import os

from systest import run

CERT, KEY = "/etc/rsm/gateway-test-cert.pem", "/etc/rsm/gateway-test-key.pem"
CA_CERT, CA_KEY = "/etc/rsm/gateway-test-ca.pem", "/etc/rsm/gateway-test-ca-key.pem"
CA_SIGNED_CERT, CA_SIGNED_KEY = "/etc/rsm/gateway-test-ca-signed-cert.pem", "/etc/rsm/gateway-test-ca-signed-key.pem"


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


def configure_ca_certificate(*ips):
    """A test CA (made once) and a server certificate it signs for 127.0.0.1
    and `ips` (subjectAltName IP entries: what a browser checks the host
    name of the URL against) in gateway.toml's [tls]. Returns the CA's path."""
    os.makedirs("/etc/rsm", exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    if not os.path.exists(CA_CERT):
        r = run("openssl", "req", "-x509", *ec, "-days", "2", "-subj", "/CN=rsm gateway test CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout", CA_KEY, "-out", CA_CERT)
        assert r.returncode == 0, r.stderr
    csr, ext = "/tmp/gateway-test-ca-signed.csr", "/tmp/gateway-test-ca-signed.ext"
    r = run("openssl", "req", *ec, "-subj", "/CN=127.0.0.1", "-keyout", CA_SIGNED_KEY, "-out", csr)
    assert r.returncode == 0, r.stderr
    with open(ext, "w") as f:
        f.write("subjectAltName=" + ",".join(f"IP:{ip}" for ip in ("127.0.0.1", *ips)) + "\n"
                "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    r = run("openssl", "x509", "-req", "-in", csr, "-CA", CA_CERT, "-CAkey", CA_KEY, "-set_serial",
            str(int.from_bytes(os.urandom(8), "big")), "-days", "2", "-extfile", ext, "-out", CA_SIGNED_CERT)
    assert r.returncode == 0, r.stderr
    run("chgrp", "rsm-gateway", CA_SIGNED_KEY)
    os.chmod(CA_SIGNED_KEY, 0o640)
    with open("/etc/rsm/gateway.toml", "w") as f:
        f.write(f'[tls]\ncertificate = "{CA_SIGNED_CERT}"\nkey = "{CA_SIGNED_KEY}"\n')
    return CA_CERT
