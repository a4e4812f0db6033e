"""rsm-gateway's RFB entry point with real clients (scenarios/gateway_rfb.sh):
TigerVNC's vncviewer with VeNCrypt TLSPlain reaches alice's desktop (the
screenshot is her red xterm), a second connection the same session,
"alice:new" a second one; a wrong password gets "Authentication failed" and
creates nothing; the relay runs as a non-root uid in group rsm-gateway;
clients that speak an unknown protocol first are turned away with a log
line (HTTP is answered: gateway_web_test.py); a viewer's input keeps a
session with an idle limit connected, and its stopping lets it go idle."""

import os
import socket
import ssl
import struct
import subprocess
import time
import unittest

from rdp_client import RED, ClientScreen, colour_share, stop
from gateway_common import configure_certificate, journal
from systest import login, run, sessions, wait, write_dropin

PORT = 5900


def diagnostics():
    j = run("journalctl", "--no-pager", "-o", "cat", "-n", "60", "-t", "rsm-gateway", "-u",
            "rsm-manager.service").stdout
    for path in ("/tmp/vncviewer.log",):
        try:
            with open(path, errors="replace") as f:
                j += f"\n--- {path}\n" + "".join(f.readlines()[-20:])
        except OSError:
            pass
    return j


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise EOFError(f"closed after {len(b)} of {n} bytes")
        b += chunk
    return b


def vencrypt_login(user, password, subtype=259, cafile=None, port=PORT):
    """A minimal RFB 3.8 VeNCrypt client: returns (socket, result, reason,
    offered sub-types). Anonymous TLS for TLSPlain, as TigerVNC does."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    assert recv_exact(s, 12) == b"RFB 003.008\n"
    s.sendall(b"RFB 003.008\n")
    types = recv_exact(s, recv_exact(s, 1)[0])
    assert 19 in types, types
    s.sendall(bytes([19]))
    assert recv_exact(s, 2) == b"\x00\x02"
    s.sendall(b"\x00\x02")
    assert recv_exact(s, 1) == b"\x00"
    k = recv_exact(s, 1)[0]
    offered = struct.unpack(f">{k}I", recv_exact(s, 4 * k))
    s.sendall(struct.pack(">I", subtype))
    if subtype in (259, 262):
        assert recv_exact(s, 1) == b"\x01"
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if subtype == 262:
            # X509Plain: the server's certificate, verified.
            ctx.load_verify_locations(cafile)
            s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_ciphers("aNULL:@SECLEVEL=0")
            s = ctx.wrap_socket(s)
    u, p = user.encode(), password.encode()
    s.sendall(struct.pack(">II", len(u), len(p)) + u + p)
    result = struct.unpack(">I", recv_exact(s, 4))[0]
    reason = recv_exact(s, struct.unpack(">I", recv_exact(s, 4))[0]).decode() if result else ""
    return s, result, reason, offered


def gateway_processes():
    """{pid: (uids, groups)} of the running rsm-gateway processes."""
    found = {}
    for pid in run("pgrep", "-x", "rsm-gateway").stdout.split():
        try:
            with open(f"/proc/{pid}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        found[int(pid)] = ([int(x) for x in status["Uid"].split()], [int(x) for x in status["Groups"].split()])
    return found


def connected_entries():
    return journal(MESSAGE="VNC viewer connected to its session")


class GatewayRfb(unittest.TestCase):
    screen = None

    @classmethod
    def setUpClass(cls):
        cls.screen = ClientScreen(":72", "1280x1024x24").__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.screen.__exit__(None, None, None)

    def viewer(self, user, password="alice-pw"):
        env = dict(os.environ, DISPLAY=self.screen.display, VNC_USERNAME=user, VNC_PASSWORD=password)
        log = open("/tmp/vncviewer.log", "ab")
        log.write(f"--- vncviewer {user}\n".encode())
        log.flush()
        return subprocess.Popen(["timeout", "60", "vncviewer", "-SecurityTypes", "TLSPlain",
                                 f"127.0.0.1::{PORT}"], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def see_red(self, what):
        self.screen.wait_for(what, lambda shot: colour_share(shot, RED) > 0.3, 60, diagnostics)

    def wait_connected(self, n):
        try:
            return wait(lambda: len(connected_entries()) >= n and connected_entries(), 60,
                        f"{n} 'VNC viewer connected' journal entries")
        except AssertionError as e:
            raise AssertionError(f"{e}\n" + diagnostics()) from None

    def alice_sessions(self):
        g = login("alice", "127.0.0.1")
        try:
            return sessions(g)
        finally:
            g.Close()

    def test_1_vncviewer_reaches_a_new_session(self):
        v = self.viewer("alice")
        try:
            self.see_red("alice's red desktop through vncviewer and rsm-gateway")
            entry = self.wait_connected(1)[-1]
            self.assertEqual(entry["RSM_REUSED"], "no")
            self.assertEqual(entry["RSM_USER"], "alice")
            self.assertEqual(entry["RSM_CLIENT_ADDRESS"], "127.0.0.1")
            self.assertEqual(entry["RSM_VENCRYPT_SUBTYPE"], "259")
            # The relay: a process of its own, not root, in group rsm-gateway.
            procs = gateway_processes()
            self.assertTrue(procs, "no rsm-gateway process while a viewer is connected")
            gid = int(run("getent", "group", "rsm-gateway").stdout.split(":")[2])
            for pid, (uids, groups) in procs.items():
                self.assertNotIn(0, uids, f"rsm-gateway {pid} runs with uid 0: {uids}")
                self.assertIn(gid, groups, f"rsm-gateway {pid} is not in group rsm-gateway")
        finally:
            stop(v)
        GatewayRfb.first_session = entry["RSM_SESSION_ID"]
        # The viewer gone, its relay process ends and the session waits.
        wait(lambda: not gateway_processes(), 30, "rsm-gateway to exit after the viewer closed")
        wait(lambda: self.alice_sessions()[self.first_session]["state"] == "disconnected", 30,
             "alice's session to be disconnected")

    def test_2_second_connection_reaches_the_same_session(self):
        v = self.viewer("alice")
        try:
            self.see_red("alice's desktop again")
            entry = self.wait_connected(2)[-1]
        finally:
            stop(v)
        self.assertEqual(entry["RSM_REUSED"], "yes")
        self.assertEqual(entry["RSM_SESSION_ID"], self.first_session)
        self.assertEqual(len(self.alice_sessions()), 1)

    def test_3_new_selector_starts_a_second_session(self):
        v = self.viewer("alice:new")
        try:
            self.see_red("a second desktop of alice's")
            entry = self.wait_connected(3)[-1]
        finally:
            stop(v)
        self.assertEqual(entry["RSM_REUSED"], "no")
        self.assertNotEqual(entry["RSM_SESSION_ID"], self.first_session)
        self.assertEqual(len(self.alice_sessions()), 2)
        GatewayRfb.second_session = entry["RSM_SESSION_ID"]

    def test_4_id_prefix_selects_that_session(self):
        wait(lambda: not gateway_processes(), 30, "the previous relay to end")
        s, result, reason, _ = vencrypt_login("alice:" + self.first_session[:8], "alice-pw")
        try:
            self.assertEqual((result, reason), (0, ""))
            entry = self.wait_connected(4)[-1]
            self.assertEqual(entry["RSM_SESSION_ID"], self.first_session)
            self.assertEqual(entry["RSM_REUSED"], "yes")
        finally:
            s.close()
        s, result, reason, _ = vencrypt_login("alice:ffffffffffffffffffffffffffffffff", "alice-pw")
        s.close()
        self.assertEqual(result, 1)
        self.assertIn("No session of yours", reason)

    def test_5_wrong_password_is_refused_with_a_reason(self):
        s, result, reason, offered = vencrypt_login("bob", "not-bobs-password")
        s.close()
        self.assertEqual((result, reason), (1, "Authentication failed"))
        # Plain (256) is offered to a loopback client, X509Plain only with a certificate.
        self.assertEqual(offered, (259, 256))
        # The same over Plain, from loopback.
        s, result, reason, _ = vencrypt_login("bob", "wrong", subtype=256)
        s.close()
        self.assertEqual((result, reason), (1, "Authentication failed"))
        self.assertTrue(journal(MESSAGE="VNC login or session failed", RSM_USER="bob"))
        g = login("bob", "127.0.0.1")
        try:
            self.assertEqual(sessions(g), {}, "a refused login created a session")
        finally:
            g.Close()

    def test_6_client_speaking_first_is_turned_away(self):
        # HTTP is served on this port now (noVNC: gateway_web.sh); a client
        # speaking something the gateway does not know is closed.
        s = socket.create_connection(("127.0.0.1", PORT), timeout=30)
        s.sendall(b"HELLO rsm\r\n")
        s.settimeout(10)
        start = time.monotonic()
        self.assertEqual(s.recv(100), b"", "rsm-gateway answered an unknown protocol")
        s.close()
        self.assertLess(time.monotonic() - start, 5)
        wait(lambda: journal(MESSAGE="protocol not served yet", RSM_PROTOCOL="unknown"), 10,
             "the 'protocol not served yet' log line")
        s = socket.create_connection(("127.0.0.1", PORT), timeout=30)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertTrue(recv_exact(s, 12).startswith(b"HTTP/1.1 "), "no HTTP answer to an HTTP request")
        s.close()

    def test_6b_a_silent_connection_is_closed_soon(self):
        """A connection that never answers the greeting (a browser's
        speculative preconnect, a scan) is closed after 2 s, not kept (a
        process counted against MaxConnectionsPerSource) until auth_timeout."""
        s = socket.create_connection(("127.0.0.1", PORT), timeout=15)
        try:
            started = time.monotonic()
            self.assertEqual(recv_exact(s, 12), b"RFB 003.008\n")
            self.assertEqual(s.recv(100), b"", "not closed")
            self.assertLess(time.monotonic() - started, 6)
        finally:
            s.close()
        wait(lambda: journal(MESSAGE="VNC viewer turned away", RSM_ERROR="the viewer did not answer the greeting"),
             30, "the silent connection's line in the journal")

    def test_8_vncviewer_with_x509plain(self):
        cert = configure_certificate()
        try:
            wait(lambda: not gateway_processes(), 30, "the previous relay to end")
            env = dict(os.environ, DISPLAY=self.screen.display, VNC_USERNAME="alice", VNC_PASSWORD="alice-pw")
            with open("/tmp/vncviewer.log", "ab") as log:
                log.write(b"--- vncviewer X509Plain alice\n")
                log.flush()
                v = subprocess.Popen(["timeout", "60", "vncviewer", "-SecurityTypes", "X509Plain", "-X509CA", cert,
                                      f"127.0.0.1::{PORT}"], env=env, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=log)
            try:
                self.see_red("alice's desktop through vncviewer with X509Plain")
                entry = wait(lambda: [e for e in connected_entries() if e.get("RSM_USER") == "alice"
                                      and e.get("RSM_VENCRYPT_SUBTYPE") == "262"], 30,
                             "alice's X509Plain connection in the journal")[-1]
                self.assertEqual(entry["RSM_REUSED"], "yes")
            finally:
                stop(v)
        finally:
            os.unlink("/etc/rsm/gateway.toml")

    def test_7_x509plain_with_a_configured_certificate(self):
        cert = configure_certificate()
        try:
            # Each connection is a new process: it reads the file as it is now.
            s, result, reason, offered = vencrypt_login("bob", "bob-pw", subtype=262, cafile=cert)
            try:
                self.assertEqual(offered, (262, 259, 256))
                self.assertEqual((result, reason), (0, ""))
                self.assertEqual(s.version(), "TLSv1.3")
            finally:
                s.close()
            entry = wait(lambda: journal(MESSAGE="VNC viewer connected to its session", RSM_USER="bob"), 30,
                         "bob's X509Plain connection in the journal")[-1]
            self.assertEqual(entry["RSM_VENCRYPT_SUBTYPE"], "262")
        finally:
            os.unlink("/etc/rsm/gateway.toml")

    def test_9_input_keeps_an_idle_limited_session_connected(self):
        """With [session] idle_timeout, a viewer that keeps sending input
        (pointer moves) keeps its session connected well past the limit: the
        relay reports the activity on the control channel (ReportActivity, at
        most every 2 s). Once only update requests come (not input), rsm
        disconnects it for idleness and the gateway closes the viewer."""
        dropin = "/etc/rsm/rsm.toml.d/60-gateway-idle.toml"
        write_dropin(dropin, "[session]\nidle_timeout = 4\n")
        run("systemctl", "reload-or-restart", "rsm-manager.service")
        s = None
        try:
            n = len(journal(MESSAGE="VNC viewer connected to its session", RSM_USER="bob"))
            s, result, reason, _ = vencrypt_login("bob:new", "bob-pw", subtype=256)
            self.assertEqual((result, reason), (0, ""), diagnostics())
            s.sendall(b"\x01")  # ClientInit: shared
            server_init = recv_exact(s, 24)  # then the desktop's name
            recv_exact(s, struct.unpack(">I", server_init[20:24])[0])
            entry = wait(lambda: journal(MESSAGE="VNC viewer connected to its session", RSM_USER="bob")[n:], 30,
                         "bob's connection in the journal")[-1]
            sid = entry["RSM_SESSION_ID"]
            s.setblocking(False)
            update_request = struct.pack(">BBHHHH", 3, 1, 0, 0, 64, 64)

            def step(message):
                """Sends one message, drains what the desktop sent; False once the gateway closed."""
                try:
                    s.sendall(message)
                except (BrokenPipeError, ConnectionResetError):
                    return False
                while True:
                    try:
                        if not s.recv(65536):
                            return False
                    except BlockingIOError:
                        return True
                    except ConnectionResetError:
                        return False

            # Input for three times the limit: still connected, still active.
            deadline = time.monotonic() + 12
            x = 0
            while time.monotonic() < deadline:
                x = (x + 7) % 500
                self.assertTrue(step(struct.pack(">BBHH", 5, 0, x, x)), "closed while the viewer sent input\n"
                                + diagnostics())
                time.sleep(0.5)
            g = login("bob", "127.0.0.1")
            try:
                self.assertEqual(sessions(g)[sid]["state"], "active")
            finally:
                g.Close()
            # Update requests only: idle, disconnected within the limit (and the
            # last report's interval).
            stopped = time.monotonic()
            while step(update_request):
                self.assertLess(time.monotonic() - stopped, 20, "no idle disconnect\n" + diagnostics())
                time.sleep(0.5)
            self.assertGreater(time.monotonic() - stopped, 1.5, "closed too early after the last input")
            wait(lambda: journal(MESSAGE="VNC relay ended", RSM_SESSION_ID=sid), 30, "the relay's end")
            self.assertIn("(DisconnectRequested: idle)",
                          journal(MESSAGE="VNC relay ended", RSM_SESSION_ID=sid)[-1]["RSM_REASON"])
            g = login("bob", "127.0.0.1")
            try:
                wait(lambda: sessions(g)[sid]["state"] == "disconnected", 30, "bob's session to be disconnected")
            finally:
                g.Close()
        finally:
            if s:
                s.close()
            write_dropin(dropin, None)
            run("systemctl", "reload-or-restart", "rsm-manager.service")


if __name__ == "__main__":
    unittest.main()
