"""xpra through rsm with the real xpra 3.1.3 (scenarios/xpra.sh): `xpra
attach tcp://alice@127.0.0.1:5900/ --password-file=F` under a private Xvfb
goes through rsm-gateway (xpra protocol, PAM through rsm) to a new rsm
session of display type "xpra" whose xterm (red) appears on the client's
screen; detached and attached again (the manager killed with -9 meanwhile)
it reaches the same session; a wrong password gets "authentication
failed" and creates nothing; a bare hello gets the gateway's challenge; a
second client takes the session over (the first is cut off); an
"xpra-desktop" session made through Gateway1 answers on the socket
ConnectSession hands out; `xpra info`, `id` and `version` through the
gateway answer with the session's own server; `xpra start-desktop
tcp://...` makes a whole-desktop session (its blue root on the client's
screen) and `--username=alice:desktop` reattaches it; `xpra attach
ssl://...` does TLS with the gateway's certificate, then the same login."""

import json
import os
import signal
import socket
import struct
import subprocess
import unittest

from rdp_client import RED, ClientScreen, colour_share, stop
import ssl
import session_client as sc
from gateway_common import CERT, configure_certificate, journal
from systest import end_sessions, login, record, run, sessions, unit_prop, wait

PORT = 5900
PWFILE = "/root/xpra-alice.pw"
BADFILE = "/root/xpra-bob-wrong.pw"
CLIENT_LOG = "/root/xpra-client.log"
BLUE = (0, 0, 255)
CLIENT_OPTIONS = ["--opengl=no", "--tray=no", "--notifications=no", "--speaker=off", "--microphone=off",
                  "--webcam=no", "--mmap=no", "--printing=no", "--file-transfer=no"]


def diagnostics():
    j = run("journalctl", "--no-pager", "-o", "cat", "-n", "80", "-t", "rsm-gateway", "-u",
            "rsm-manager.service").stdout
    j += "\n--- session journal\n" + run("journalctl", "--no-pager", "-o", "cat", "-n", "60",
                                          "--identifier", "rsm-session").stdout
    # What xpra and the session program wrote (identifier rsm-session-<id>).
    out = run("journalctl", "--no-pager", "-o", "json", "-n", "2000").stdout
    lines = [json.loads(x) for x in out.splitlines() if x.strip()]
    own = [e.get("MESSAGE", "") for e in lines if str(e.get("SYSLOG_IDENTIFIER", "")).startswith("rsm-session-")]
    j += "\n--- xpra server and session program\n" + "\n".join(str(m) for m in own[-60:])
    try:
        with open(CLIENT_LOG, errors="replace") as f:
            j += f"\n--- {CLIENT_LOG}\n" + "".join(f.readlines()[-40:])
    except OSError:
        pass
    return j


def connected_entries():
    return journal(MESSAGE="xpra client connected to its session")


def manager_pid():
    return int(unit_prop("rsm-manager.service", "MainPID") or 0)


def gateway_processes():
    return run("pgrep", "-x", "rsm-gateway").stdout.split()


class Xpra(unittest.TestCase):
    screen = None

    @classmethod
    def setUpClass(cls):
        # The password file is read whole, newline included: printf, no newline.
        for path, pw in ((PWFILE, "alice-pw"), (BADFILE, "not-bobs-password")):
            with open(path, "w") as f:
                f.write(pw)
            os.chmod(path, 0o600)
        cls.screen = ClientScreen(":73", "1280x1024x24").__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.screen.__exit__(None, None, None)

    def client(self, user, pwfile, mode="attach", url=None, extra=()):
        env = dict(os.environ, DISPLAY=self.screen.display)
        log = open(CLIENT_LOG, "ab")
        log.write(f"--- xpra {mode} {user}\n".encode())
        log.flush()
        return subprocess.Popen(
            ["timeout", "120", "xpra", mode, url or f"tcp://{user}@127.0.0.1:{PORT}/", f"--password-file={pwfile}",
             *CLIENT_OPTIONS, *extra],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def see_red(self, what):
        self.screen.wait_for(what, lambda shot: colour_share(shot, RED) > 0.1, 90, diagnostics)

    def wait_connected(self, n):
        try:
            return wait(lambda: len(connected_entries()) >= n and connected_entries(), 90,
                        f"{n} 'xpra client connected' journal entries")
        except AssertionError as e:
            raise AssertionError(f"{e}\n" + diagnostics()) from None

    def user_sessions(self, user):
        g = login(user, "127.0.0.1")
        try:
            return sessions(g)
        finally:
            g.Close()

    def test_1_xpra_attach_reaches_a_new_xpra_session(self):
        c = self.client("alice", PWFILE)
        try:
            entry = self.wait_connected(1)[-1]
            self.see_red("alice's red xterm through xpra attach and rsm-gateway")
            self.assertEqual(entry["RSM_REUSED"], "no")
            self.assertEqual(entry["RSM_USER"], "alice")
            sid = entry["RSM_SESSION_ID"]
            rec = self.user_sessions("alice")[sid]
            self.assertEqual(rec["display_type"], "xpra")
            self.assertEqual(rec["state"], "active")
            # The xpra server runs as alice, in the session's logind session
            # (pam_systemd moved the leader there, sessions_test.py).
            pids = run("pgrep", "-u", "alice", "-f", "xpra start").stdout.split()
            self.assertTrue(pids, "no xpra server of alice's")
            with open(f"/proc/{pids[0]}/cgroup") as f:
                cg = f.read()
            logind = record(sid)["LOGIND_SESSION"]
            self.assertTrue(logind)
            self.assertIn(f"session-{logind}.scope", cg)
            # Its socket is in alice's socket directory, owner-only.
            uid = int(run("id", "-u", "alice").stdout)
            st = os.stat(f"/run/rsm/user/{uid}/xpra-{sid}")
            self.assertEqual(st.st_uid, uid)
            self.assertEqual(st.st_mode & 0o077, 0)
        finally:
            stop(c)
        Xpra.first_session = sid
        wait(lambda: not gateway_processes(), 30, "rsm-gateway to exit after the client detached")
        wait(lambda: self.user_sessions("alice")[sid]["state"] == "disconnected", 30,
             "alice's session to be disconnected")

    def test_2_attach_again_after_kill_9_of_the_manager(self):
        self.user_sessions("alice")  # the manager runs (socket-activated)
        old = manager_pid()
        self.assertTrue(old)
        os.kill(old, signal.SIGKILL)
        # Socket-activated: the next login starts a new one.
        wait(lambda: manager_pid() != old, 30, "the killed manager to be gone")
        c = self.client("alice", PWFILE)
        try:
            entry = self.wait_connected(2)[-1]
            self.see_red("alice's xterm again")
        finally:
            stop(c)
        self.assertEqual(entry["RSM_REUSED"], "yes")
        self.assertEqual(entry["RSM_SESSION_ID"], self.first_session)
        self.assertEqual(list(self.user_sessions("alice")), [self.first_session])

    def test_3_wrong_password_is_refused(self):
        c = self.client("bob", BADFILE)
        try:
            rc = c.wait(90)
        finally:
            if c.poll() is None:
                stop(c)
        with open(CLIENT_LOG, errors="replace") as f:
            out = f.read().rsplit("--- xpra attach bob", 1)[-1]
        self.assertNotEqual(rc, 0)
        self.assertIn("authentication failed", out)
        self.assertTrue(journal(MESSAGE="xpra client turned away", RSM_USER="bob"))
        self.assertEqual(self.user_sessions("bob"), {}, "a refused login created a session")

    def test_4_bare_hello_gets_the_challenge(self):
        s = socket.create_connection(("127.0.0.1", PORT), timeout=30)
        hello = (b"l5:hellod8:username5:alice6:digestl3:xor11:hmac+sha256e11:salt-digestl11:hmac+sha256ee"
                 b"e")
        s.sendall(b"P\0\0\0" + struct.pack(">I", len(hello)) + hello)
        head = b""
        while len(head) < 8:
            head += s.recv(8 - len(head))
        n = struct.unpack(">I", head[4:])[0]
        body = b""
        while len(body) < n:
            body += s.recv(n - len(body))
        s.close()
        self.assertEqual(head[:4], b"P\0\0\0")
        # ["challenge", 64 hex digits, "", "xor", "hmac+sha256", "password"]
        self.assertTrue(body.startswith(b"l9:challenge64:"), body)
        self.assertTrue(body.endswith(b"0:3:xor11:hmac+sha2568:passworde"), body)

    def test_5_a_second_client_takes_the_session_over(self):
        first = self.client("alice", PWFILE)
        try:
            n = len(connected_entries())
            self.wait_connected(n + 1)
            self.see_red("alice's xterm for the first client")
            second = self.client("alice", PWFILE)
            try:
                entry = self.wait_connected(n + 2)[-1]
                # rsm cuts the first client's relay off: that client ends.
                wait(lambda: first.poll() is not None, 60, "the first client to be cut off")
                self.see_red("alice's xterm for the second client")
            finally:
                stop(second)
        finally:
            if first.poll() is None:
                stop(first)
        self.assertEqual(entry["RSM_REUSED"], "yes")
        self.assertEqual(entry["RSM_SESSION_ID"], self.first_session)

    def test_6_xpra_desktop_through_gateway1(self):
        """The other type, from any trusted gateway: ConnectSession hands a
        socket to the xpra start-desktop server, which answers xpra's
        connect test."""
        g = login("bob", "127.0.0.1")
        try:
            sid, reused = sc.create_session(g, type="xpra-desktop", width=1024, height=768, depth=24)
            self.assertFalse(reused)
            socks, details = sc.connect_session(g, sid)
            try:
                self.assertEqual(details["protocol"], "xpra")
                d = socks["display"]
                d.setblocking(True)
                d.settimeout(30)
                body = b"l5:hellod7:version5:3.1.37:request12:connect_test20:connect_test_request3:rsmee"
                d.sendall(b"P\0\0\0" + struct.pack(">I", len(body)) + body)
                head = sc.recv_exact(d, 8, 30)
                answer = sc.recv_exact(d, struct.unpack(">I", head[4:])[0], 30)
                self.assertEqual(answer, b"l5:hellod21:connect_test_response3:rsmee")
            finally:
                for x in socks.values():
                    x.close()
            self.assertEqual(sessions(g)[sid]["display_type"], "xpra-desktop")
            pids = run("pgrep", "-u", "bob", "-f", "xpra start-desktop").stdout.split()
            self.assertTrue(pids, "no xpra start-desktop server of bob's")
        finally:
            g.Close()

    def test_7_the_hello_display_selects_the_session(self):
        """A hand-made xpra client doing the whole challenge: the hello's
        "display" picks alice's session on that display (the session's xpra
        server then answers its connect test), and a display without a
        session of hers is refused with a reason."""
        sid = self.first_session
        display = self.user_sessions("alice")[sid]["display"]
        self.assertTrue(display.startswith(":"))
        self.assertEqual(xpra_exchange("alice", "alice-pw", ":999"),
                         [b"disconnect", b"rsm-gateway: No session of yours is on display :999"])
        self.assertEqual(xpra_exchange("alice", "alice-pw", display),
                         [b"hello", {b"connect_test_response": b"rsm"}])
        entry = connected_entries()[-1]
        self.assertEqual(entry["RSM_SESSION_ID"], sid)
        self.assertEqual(entry["RSM_DISPLAY"], display)
        self.assertEqual(xpra_exchange("alice", "wrong", display), [b"disconnect", b"authentication failed"])

    def test_8_xpra_info_through_the_gateway(self):
        """`xpra info` through rsm-gateway answers with the session's own
        server: its display and its command line, which names the socket
        rsm made for this session (xpra-<session id>); `xpra id` and `xpra
        version` too."""
        sid = self.first_session
        display = self.user_sessions("alice")[sid]["display"]

        def request(mode):
            r = run("timeout", "60", "xpra", mode, f"tcp://alice@127.0.0.1:{PORT}/", f"--password-file={PWFILE}",
                    timeout=90)
            self.assertEqual(r.returncode, 0, f"xpra {mode}: " + r.stdout[-2000:] + r.stderr[-2000:] + diagnostics())
            # xpra logs these lines (stderr) or prints them (stdout), by version.
            return {k: v for k, _, v in (x.partition("=") for x in (r.stdout + r.stderr).splitlines()) if _}

        n = len(connected_entries())
        info = request("info")
        self.assertEqual(info.get("server.display"), display, sorted(info)[:40])
        self.assertIn(f"/xpra-{sid}", info.get("server.argv", ""))
        # A proxy would say "proxy"; a desktop server "GTK3 X11 desktop".
        self.assertEqual(info.get("server.mode"), "GTK3 X11")
        self.assertEqual(connected_entries()[n]["RSM_SESSION_ID"], sid)
        ident = request("id")
        self.assertEqual(ident.get("display"), display, ident)
        self.assertEqual(ident.get("session-type"), "seamless", ident)
        v = run("timeout", "60", "xpra", "version", f"tcp://alice@127.0.0.1:{PORT}/", f"--password-file={PWFILE}",
                timeout=90)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.assertIn("3.1", v.stdout + v.stderr)
        self.assertEqual(len(connected_entries()), n + 3)

    def test_8b_xpra_start_desktop_and_the_desktop_selector(self):
        """`xpra start-desktop ssl://alice@...` (hello key start-new-session;
        xpra 3.1's start-desktop client sends a password only over TLS, not
        even to loopback) makes a new session of type xpra-desktop: the
        client shows a whole desktop (its blue root window, which a seamless
        session never shows). Detached, `xpra attach tcp://...
        --username=alice:desktop` reaches it again, and `xpra info` there
        names a desktop server."""
        configure_certificate()
        n = len(connected_entries())
        c = self.client("alice", PWFILE, mode="start-desktop", url=f"ssl://alice@127.0.0.1:{PORT}/",
                        extra=[f"--ssl-ca-certs={CERT}"])
        try:
            entry = self.wait_connected(n + 1)[-1]
            self.see_blue("alice's blue desktop through xpra start-desktop")
        finally:
            stop(c)
            os.unlink("/etc/rsm/gateway.toml")
        sid = entry["RSM_SESSION_ID"]
        self.assertEqual(entry["RSM_REUSED"], "no")
        self.assertEqual(entry["RSM_SESSION_TYPE"], "xpra-desktop")
        self.assertNotEqual(sid, self.first_session)
        self.assertEqual(self.user_sessions("alice")[sid]["display_type"], "xpra-desktop")
        pids = run("pgrep", "-u", "alice", "-f", "xpra start-desktop").stdout.split()
        self.assertTrue(pids, "no xpra start-desktop server of alice's")
        wait(lambda: self.user_sessions("alice")[sid]["state"] == "disconnected", 30,
             "alice's desktop session to be disconnected")
        Xpra.desktop_session = sid

        url = f"tcp://127.0.0.1:{PORT}/"
        c = self.client("alice:desktop", PWFILE, url=url, extra=["--username=alice:desktop"])
        try:
            entry = self.wait_connected(n + 2)[-1]
            self.see_blue("alice's desktop again, by alice:desktop")
        finally:
            stop(c)
        self.assertEqual(entry["RSM_REUSED"], "yes")
        self.assertEqual(entry["RSM_SESSION_ID"], sid)
        self.assertEqual(entry["RSM_USER"], "alice")
        wait(lambda: self.user_sessions("alice")[sid]["state"] == "disconnected", 30,
             "alice's desktop session to be disconnected again")
        r = run("timeout", "60", "xpra", "info", url, "--username=alice:desktop", f"--password-file={PWFILE}",
                timeout=90)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        self.assertIn("server.mode=GTK3 X11 desktop\n", r.stdout + r.stderr)
        self.assertIn(f"/xpra-{sid}", r.stdout + r.stderr)
        # The seamless session is still the one a plain "alice" reaches.
        self.assertEqual(set(self.user_sessions("alice")), {self.first_session, sid})

    def see_blue(self, what):
        self.screen.wait_for(what, lambda shot: colour_share(shot, BLUE, 8) > 0.3, 90, diagnostics)

    def test_8c_xpra_over_tls(self):
        """`xpra attach ssl://alice@127.0.0.1:5900/`, verifying the
        gateway's [tls] certificate: TLS (GnuTLS) first, then the same xpra
        login inside, and alice's seamless session on the client's screen.
        Inside TLS, HTTP is answered and anything else is closed with a
        journal line."""
        configure_certificate()
        try:
            n = len(connected_entries())
            c = self.client("alice", PWFILE, url=f"ssl://alice@127.0.0.1:{PORT}/",
                            extra=[f"--ssl-ca-certs={CERT}", "--ssl-server-verify-mode=required"])
            try:
                entry = self.wait_connected(n + 1)[-1]
                self.see_red("alice's red xterm through xpra attach ssl://")
            finally:
                stop(c)
            self.assertEqual(entry.get("RSM_TLS"), "yes")
            self.assertEqual(entry["RSM_SESSION_ID"], self.first_session)
            self.assertEqual(entry["RSM_SESSION_TYPE"], "xpra")

            ctx = ssl.create_default_context(cafile=CERT)
            # HTTP inside TLS is HTTPS (noVNC: gateway_web_test.py) ...
            with ctx.wrap_socket(socket.create_connection(("127.0.0.1", PORT), timeout=30),
                                 server_hostname="127.0.0.1") as s:
                s.sendall(b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 "), "no HTTP answer inside TLS")
            # ... and anything else is closed.
            with ctx.wrap_socket(socket.create_connection(("127.0.0.1", PORT), timeout=30),
                                 server_hostname="127.0.0.1") as s:
                s.sendall(b"\x00\x01 not a protocol\r\n")
                try:
                    self.assertEqual(s.recv(100), b"")
                except (ssl.SSLError, ConnectionError):
                    pass
            wait(lambda: journal(MESSAGE="protocol inside TLS not served yet", RSM_PROTOCOL="unknown"), 10,
                 "the 'protocol inside TLS not served yet' line")
        finally:
            os.unlink("/etc/rsm/gateway.toml")

    def test_9_ending_an_xpra_session_leaves_nothing(self):
        """TerminateSession of bob's xpra-desktop session: xpra, its Xvfb
        (which xpra starts in a session of its own) and the socket go."""
        g = login("bob", "127.0.0.1")
        try:
            ids = list(sessions(g))
            self.assertEqual(len(ids), 1)
            uid = int(run("id", "-u", "bob").stdout)
            sock = f"/run/rsm/user/{uid}/xpra-{ids[0]}"
            self.assertTrue(os.path.exists(sock))
            end_sessions(g, "bob")
        finally:
            g.Close()
        wait(lambda: not run("pgrep", "-u", "bob").stdout.strip(), 60, "every process of bob's to end")
        wait(lambda: not os.path.exists(sock), 30, "xpra's socket to be removed")


def bdecode(b, i=0):
    """A minimal bencode reader for the gateway's and xpra's answers."""
    c = b[i:i + 1]
    if c == b"i":
        j = b.index(b"e", i)
        return int(b[i + 1:j]), j + 1
    if c in (b"l", b"d"):
        items, i = [], i + 1
        while b[i:i + 1] != b"e":
            v, i = bdecode(b, i)
            items.append(v)
        return (items if c == b"l" else dict(zip(items[::2], items[1::2]))), i + 1
    j = b.index(b":", i)
    n = int(b[i:j])
    return b[j + 1:j + 1 + n], j + 1 + n


def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    return b"d" + b"".join(bencode(k) + bencode(x) for k, x in v.items()) + b"e"


def xpra_packet(s):
    head = sc.recv_exact(s, 8, 30)
    assert head[:1] == b"P" and head[2] == 0, head
    return bdecode(sc.recv_exact(s, struct.unpack(">I", head[4:])[0], 30))[0]


def xpra_exchange(user, password, display, port=PORT):
    """hello -> challenge -> response hello (asking for xpra's connect test)
    -> the first packet that comes back."""
    import hashlib
    import hmac
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        caps = {"version": "3.1.3", "username": user, "display": display, "digest": ["xor", "hmac+sha256"],
                "salt-digest": ["hmac+sha256"]}
        body = bencode(["hello", dict(caps, challenge=1)])
        s.sendall(b"P\0\0\0" + struct.pack(">I", len(body)) + body)
        ch = xpra_packet(s)
        assert ch[0] == b"challenge" and ch[3] == b"xor" and ch[4] == b"hmac+sha256", ch
        client_salt = os.urandom(32)
        salt = hmac.new(client_salt, ch[1], hashlib.sha256).hexdigest().encode()
        pw = password.encode()
        response = bytes(a ^ b for a, b in zip(pw, salt.ljust(len(pw), b"\0")))
        body = bencode(["hello", dict(caps, challenge_response=response, challenge_client_salt=client_salt,
                                      request="connect_test", connect_test_request="rsm")])
        s.sendall(b"P\0\0\0" + struct.pack(">I", len(body)) + body)
        return xpra_packet(s)
    finally:
        s.close()


if __name__ == "__main__":
    unittest.main()
