"""SCP v0 by hand, as xrdp 0.9.21 speaks it to rsm-scp: every request, good
or bad, gets a reply, then a close (never a hang); and the VNC relay's RFB
3.3 face, with the password derived from the reply's GUID."""

import socket
import struct
import time
import unittest

import systest
from rdp_client import wait_xrdp_listening
from systest import end_all

SCP = ("127.0.0.1", 3350)
DENY = bytes.fromhex("00000000" "0000000e" "0003" "0000" "0000")


def scp_request(user, password, code=0, width=1024, height=768, bpp=24,
                description="192.0.2.70:51234 - socket: 12"):
    def s(x):
        b = x.encode()
        return struct.pack(">H", len(b)) + b
    body = struct.pack(">H", code) + s(user) + s(password)
    if code != 4:
        body += struct.pack(">HHH", width, height, bpp) + s("") + s("") + s("") + s(description)
    return struct.pack(">II", 0, 8 + len(body)) + body


def exchange(data, addr=SCP, family=socket.AF_INET, timeout=20, half_close=False):
    """Sends data, reads until the server closes; returns (reply, seconds)."""
    with socket.socket(family, socket.SOCK_STREAM) as c:
        c.settimeout(timeout)
        c.connect(addr)
        t0 = time.monotonic()
        if data:
            c.sendall(data)
        if half_close:
            c.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                return out, time.monotonic() - t0
            out += chunk


def vnc_response(challenge, password):
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    except ImportError:
        from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import Cipher, modes
    key = bytes(int(f"{b:08b}"[::-1], 2) for b in password.encode()[:8].ljust(8, b"\0"))
    enc = Cipher(TripleDES(key), modes.ECB()).encryptor()
    return enc.update(challenge) + enc.finalize()


def xrdp_vnc_password(guid):
    import hashlib
    g = guid.hex()
    return hashlib.sha1(("xrdp_vnc" + g + g).encode()).hexdigest()[:8]


def recv_exact(c, n):
    out = b""
    while len(out) < n:
        chunk = c.recv(n - len(out))
        if not chunk:
            raise AssertionError(f"closed after {len(out)} of {n} bytes")
        out += chunk
    return out


class XrdpUnitTest(unittest.TestCase):
    """docs/xrdp.md's switch: Debian's own xrdp.service (Requires= and
    After=xrdp-sesman.service) starts rsm-scp, never sesman."""

    def test_xrdp_unit_starts_rsm_scp_in_place_of_sesman(self):
        show = lambda unit, prop: systest.run("systemctl", "show", "-P", prop, unit).stdout.strip()  # noqa: E731
        # The name is rsm-scp's (the [Install] Alias= symlink in /etc).
        self.assertEqual(show("xrdp-sesman.service", "Id"), "rsm-scp.service")
        self.assertIn("xrdp-sesman.service", show("rsm-scp.service", "Names").split())
        # Debian's Requires=xrdp-sesman.service now names rsm-scp.
        self.assertIn("rsm-scp.service", show("xrdp.service", "Requires").split())
        self.assertEqual(show("xrdp.service", "ActiveState"), "active")
        self.assertEqual(show("rsm-scp.service", "ActiveState"), "active")
        pid = show("rsm-scp.service", "MainPID")
        self.assertNotEqual(systest.run("pgrep", "-x", "xrdp-sesman").returncode, 0,
                            "Debian's xrdp-sesman is running")
        # Restarting xrdp (what an upgrade of the xrdp package does) pulls
        # in rsm-scp again, and still not sesman.
        systest.run("systemctl", "restart", "xrdp.service")
        wait_xrdp_listening()
        self.assertEqual(show("rsm-scp.service", "ActiveState"), "active")
        self.assertEqual(show("rsm-scp.service", "MainPID"), pid)
        self.assertNotEqual(systest.run("pgrep", "-x", "xrdp-sesman").returncode, 0,
                            "Debian's xrdp-sesman is running after restarting xrdp")
        reply, _ = exchange(scp_request("alice", "wrong"))
        self.assertEqual(reply, DENY)


class ScpV0Test(unittest.TestCase):
    """SCP v0 as a client of our own speaks it: every bad input is denied."""

    def test_garbage_gets_deny_and_close(self):
        for what, data in [
            ("unknown version", struct.pack(">II", 7, 20) + b"x" * 12),
            ("size below the minimum", struct.pack(">II", 0, 3)),
            ("size above 8192", struct.pack(">II", 0, 100000)),
            ("unknown code", struct.pack(">IIH", 0, 10, 99)),
            ("string past the end", struct.pack(">IIHH", 0, 12, 0, 400)),
            ("trailing bytes", None),
        ]:
            with self.subTest(what=what):
                if what == "trailing bytes":
                    body = scp_request("alice", "alice-pw") + b"zz"
                    data = body[:4] + struct.pack(">I", len(body)) + body[8:]
                reply, secs = exchange(data)
                self.assertEqual(reply, DENY)
                self.assertLess(secs, 5)

    def test_truncated_request_is_denied_at_the_deadline(self):
        # Half a request, then silence (the peer keeps the connection open):
        # the request deadline (10 s) answers with a deny, not a hang.
        reply, secs = exchange(scp_request("alice", "alice-pw")[:15], timeout=30)
        self.assertEqual(reply, DENY)
        self.assertGreater(secs, 8)
        self.assertLess(secs, 20)

    def test_peer_half_close_still_gets_the_reply(self):
        reply, _ = exchange(scp_request("alice", "wrong"), half_close=True)
        self.assertEqual(reply, DENY)

    def test_wrong_password_is_denied(self):
        reply, _ = exchange(scp_request("alice", "wrong-pw"))
        self.assertEqual(reply, DENY)

    def test_ipv6_loopback_answers(self):
        # xrdp dials ::1 first.
        reply, _ = exchange(scp_request("nosuchuser", "x"), addr=("::1", 3350, 0, 0), family=socket.AF_INET6)
        self.assertEqual(reply, DENY)

    def test_gateway_auth_only(self):
        ok, _ = exchange(scp_request("bob", "bob-pw", code=4))
        self.assertEqual(ok, bytes.fromhex("00000000" "0000000e" "0004" "0000" "0000"))
        bad, _ = exchange(scp_request("bob", "nope", code=4))
        self.assertEqual(bad, bytes.fromhex("00000000" "0000000e" "0004" "0001" "0000"))


class VncRelayTest(unittest.TestCase):
    """The accept reply and the relay in front of the session's Xvnc."""

    def tearDown(self):
        end_all("bob", "192.0.2.70")

    def login(self):
        reply, _ = exchange(scp_request("bob", "bob-pw"), timeout=90)
        self.assertEqual(len(reply), 30, reply.hex())
        version, size, cmd, ok, display = struct.unpack(">IIHHH", reply[:14])
        self.assertEqual((version, size, cmd, ok), (0, 30, 3, 1))
        self.assertGreater(display, 0)
        # rsm-scp is a trusted gateway (DynamicUser in group rsm-gateway):
        # rsm believes the client address it passes on from xrdp.
        g = systest.login("bob", "192.0.2.70")
        try:
            listed = list(systest.sessions(g).values())
        finally:
            g.Close()
        self.assertEqual([(s["display"], s["client_address"]) for s in listed], [(f":{display}", "192.0.2.70")])
        return display, reply[14:]

    def rfb_auth(self, port, password):
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.assertEqual(recv_exact(c, 12), b"RFB 003.003\n")
        c.sendall(b"RFB 003.003\n")
        self.assertEqual(struct.unpack(">I", recv_exact(c, 4))[0], 2)  # VNC authentication
        challenge = recv_exact(c, 16)
        c.sendall(vnc_response(challenge, password))
        return c, struct.unpack(">I", recv_exact(c, 4))[0]

    def test_relay_with_the_derived_password(self):
        display, guid = self.login()
        c, result = self.rfb_auth(5900 + display, xrdp_vnc_password(guid))
        with c:
            self.assertEqual(result, 0)
            c.sendall(b"\x01")  # ClientInit, shared
            width, height = struct.unpack(">HH", recv_exact(c, 4))
            self.assertEqual((width, height), (1024, 768))  # Xvnc's ServerInit, through the relay
        # One connection only: the listener is gone.
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", 5900 + display), timeout=3).close()

    def test_next_session_on_the_display_is_served_at_once(self):
        # The session ends while xrdp still holds the relay: the relay closes
        # first and its port sits in TIME_WAIT. The next login gets the same
        # display number and must still be served (a deny here is what
        # binding without SO_REUSEADDR did, for a minute).
        display, guid = self.login()
        c, result = self.rfb_auth(5900 + display, xrdp_vnc_password(guid))
        with c:
            self.assertEqual(result, 0)
            end_all("bob", "192.0.2.70")
            self.assertEqual(c.recv(10), b"")
        again, guid = self.login()
        self.assertEqual(again, display)
        c, result = self.rfb_auth(5900 + again, xrdp_vnc_password(guid))
        with c:
            self.assertEqual(result, 0)

    def test_wrong_vnc_password_fails_and_closes(self):
        display, _ = self.login()
        c, result = self.rfb_auth(5900 + display, "00000000")
        with c:
            self.assertEqual(result, 1)
            self.assertEqual(c.recv(10), b"")

    def test_listener_closes_if_nobody_connects(self):
        display, _ = self.login()
        time.sleep(6)  # accept_timeout is 5 s; nothing signals its expiry to a client
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", 5900 + display), timeout=3).close()


if __name__ == "__main__":
    unittest.main()
