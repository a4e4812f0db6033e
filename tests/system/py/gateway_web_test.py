"""rsm-gateway's browser entry point with real clients (scenarios/gateway_web.sh):
curl gets noVNC's files from Debian's novnc package on the gateway's port,
and nothing outside it (path traversal: 404); bad WebSocket upgrades are
refused; the real noVNC 1.3 in a headless Chromium asks for user name and
password, logs alice in over the WebSocket and shows her desktop (the
screenshot is her red xterm); a wrong password shows noVNC's
"Authentication failed" and creates no session; two browsers on one
address, one right after the other, both get the page (a page load's
kept-alive connections end half a second after their last answer instead
of lingering against MaxConnectionsPerSource); with a certificate configured, the same over
HTTPS and wss://, Chromium trusting the test CA (and refusing a
certificate of another CA), no certificate error ignored."""

import json
import os
import socket
import ssl
import struct
import subprocess
import unittest

import websocket

from chromium import Chromium
from rdp_client import RED, colour_share, colours
from gateway_common import CERT, configure_ca_certificate, configure_certificate, journal
from systest import login, run, sessions, wait

PORT = 5900
BASE = f"http://127.0.0.1:{PORT}"
PAGE = f"{BASE}/vnc.html?host=127.0.0.1&port={PORT}&autoconnect=1"
HTTPS = f"https://127.0.0.1:{PORT}"


def diagnostics():
    j = run("journalctl", "--no-pager", "-o", "cat", "-n", "60", "-t", "rsm-gateway", "-u",
            "rsm-manager.service").stdout
    for e in journal()[-30:]:
        if e.get("RSM_ERROR"):
            j += f"\n{e.get('MESSAGE')}: {e.get('RSM_HTTP_PATH', '')} {e['RSM_ERROR']}"
    try:
        with open("/tmp/chromium.log", errors="replace") as f:
            j += "\n--- chromium\n" + "".join(f.readlines()[-20:])
    except OSError:
        pass
    return j


def curl(path, *args, base=BASE):
    """(status, headers, body) of one request through the real curl."""
    r = subprocess.run(["curl", "-s", "--path-as-is", "-D", "-", "-o", "/tmp/curl.body", *args, base + path],
                       capture_output=True, timeout=30)
    head = r.stdout.decode(errors="replace")
    status = int(head.split()[1]) if head.startswith("HTTP/") else 0
    with open("/tmp/curl.body", "rb") as f:
        return status, head, f.read()


def raw_request(request, to_end=False):
    """The answer's head to a hand-written request, or (to_end) all until the server closes."""
    s = socket.create_connection(("127.0.0.1", PORT), timeout=15)
    s.sendall(request)
    answer = b""
    while to_end or b"\r\n\r\n" not in answer:
        chunk = s.recv(4096)
        if not chunk:
            break
        answer += chunk
    s.close()
    return answer.decode(errors="replace")


def user_sessions(user):
    g = login(user, "127.0.0.1")
    try:
        return sessions(g)
    finally:
        g.Close()


class GatewayWeb(unittest.TestCase):
    browser = None

    @classmethod
    def setUpClass(cls):
        cls.browser = Chromium().__enter__()

    @classmethod
    def tearDownClass(cls):
        if cls.browser:
            cls.browser.__exit__(None, None, None)

    def test_1_novnc_is_served(self):
        with open("/usr/share/novnc/vnc.html", "rb") as f:
            page = f.read()
        status, head, body = curl("/")
        self.assertEqual(status, 200, head)
        self.assertEqual(body, page, "GET / is not noVNC's vnc.html")
        self.assertIn("Content-Type: text/html; charset=utf-8", head)
        # HEAD: the headers (the file's length), no body before the server closes.
        answer = raw_request(b"HEAD /app/ui.js HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                             to_end=True)
        head, _, body = answer.partition("\r\n\r\n")
        self.assertTrue(head.startswith("HTTP/1.1 200"), head)
        self.assertIn("Content-Type: text/javascript; charset=utf-8", head)
        self.assertIn(f"Content-Length: {os.path.getsize('/usr/share/novnc/app/ui.js')}", head)
        self.assertEqual(body, "", "HEAD sent a body")
        # Debian's vnc_auto.html is a symlink to vnc.html, inside the root.
        status, _, body = curl("/vnc_auto.html")
        self.assertEqual(status, 200, diagnostics())
        self.assertEqual(body, page)
        status, head, _ = curl("/", "-X", "POST")
        self.assertEqual(status, 405, head)
        self.assertIn("Allow: GET, HEAD", head)

    def test_2_nothing_outside_the_root(self):
        for path in ("/../../../../etc/passwd", "/app/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                     "/app/..%2f..%2f..%2f..%2fetc/passwd", "//etc/passwd", "/utils/novnc_proxy", "/.x/vnc.html",
                     "/app/", "/app"):
            status, head, body = curl(path)
            self.assertEqual((status, body), (404, b"not found\n"), f"{path}: {head}")
        self.assertTrue(journal(MESSAGE="HTTP request for no file served", RSM_HTTP_PATH="/../../../../etc/passwd")
                        or journal(MESSAGE="HTTP request for no file served"))
        # And the gateway goes on serving.
        self.assertEqual(curl("/")[0], 200)

    def test_3_bad_upgrades_are_refused(self):
        status, head, body = curl("/websockify")
        self.assertEqual(status, 400, head)
        self.assertIn(b"not a WebSocket upgrade", body)
        upgrade = (b"GET /websockify HTTP/1.1\r\nHost: 127.0.0.1:5900\r\nConnection: Upgrade\r\n"
                   b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                   b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
        answer = raw_request(upgrade + b"Origin: http://evil.example\r\n\r\n")
        self.assertTrue(answer.startswith("HTTP/1.1 403"), answer)
        answer = raw_request(upgrade + b"Sec-WebSocket-Protocol: binary\r\n\r\n")
        self.assertTrue(answer.startswith("HTTP/1.1 101"), answer)
        self.assertIn("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", answer)
        self.assertIn("Sec-WebSocket-Protocol: binary", answer)
        self.assertTrue(journal(MESSAGE="WebSocket upgrade refused"))

    def log_in_with_novnc(self, user, password, browser=None, page=PAGE):
        b = browser or self.browser
        self.open_credentials_dialog(b, page)
        b.evaluate(f"document.getElementById('noVNC_username_input').value = {json.dumps(user)};"
                   f"document.getElementById('noVNC_password_input').value = {json.dumps(password)};"
                   "document.getElementById('noVNC_credentials_button').click(); true")

    def open_credentials_dialog(self, b, page=PAGE):
        b.navigate(page)
        try:
            wait(lambda: b.evaluate("document.getElementById('noVNC_credentials_dlg')"
                                    ".classList.contains('noVNC_open')"), 60,
                 "noVNC's credentials dialog (the gateway offered VeNCrypt Plain)")
        except AssertionError as e:
            raise AssertionError(f"{e}; status: {self.status(b)!r}\n" + diagnostics()) from None

    def status(self, browser=None):
        return (browser or self.browser).evaluate("document.getElementById('noVNC_status').textContent")

    def test_4_novnc_logs_alice_in_and_shows_her_desktop(self):
        self.log_in_with_novnc("alice", "alice-pw")
        b = self.browser
        try:
            # noVNC marks the page connected once ServerInit has arrived.
            wait(lambda: b.evaluate("document.documentElement.classList.contains('noVNC_connected')"), 90,
                 "noVNC's page to be connected")
            shot = wait(lambda: (lambda s: s if s and colour_share(s, RED) > 0.3 else None)(b.screenshot()), 90,
                        "alice's red desktop in Chromium's noVNC page")
        except AssertionError as e:
            shot = b.screenshot() or b""
            b.save_screenshot("/tmp/gateway_web_failed.png")
            raise AssertionError(f"{e}; status {self.status()!r}, colours {colours(shot)}, "
                                 f"red {colour_share(shot, RED):.2f}\n" + diagnostics()) from None
        b.save_screenshot("/tmp/gateway_web_alice.png")
        self.assertGreater(colour_share(shot, RED), 0.3)
        entry = wait(lambda: journal(MESSAGE="VNC viewer connected to its session", RSM_USER="alice"), 30,
                     "alice's connection in the journal")[-1]
        self.assertEqual(entry["RSM_TRANSPORT"], "websocket")
        self.assertEqual(entry["RSM_VENCRYPT_SUBTYPE"], "256")
        self.assertEqual(entry["RSM_CLIENT_ADDRESS"], "127.0.0.1")
        self.assertEqual(entry["RSM_REUSED"], "no")
        self.assertEqual(len(user_sessions("alice")), 1)
        # Leaving the page closes the WebSocket: the session is kept, disconnected.
        b.navigate("about:blank")
        sid = entry["RSM_SESSION_ID"]
        wait(lambda: user_sessions("alice")[sid]["state"] == "disconnected", 30,
             "alice's session to be disconnected after the page was left")
        wait(lambda: journal(MESSAGE="VNC relay ended", RSM_SESSION_ID=sid), 30, "the relay's end in the journal")

    def test_5_wrong_password_shows_authentication_failed(self):
        self.log_in_with_novnc("bob", "not-bobs-password")
        try:
            wait(lambda: "Authentication failed" in (self.status() or ""), 60,
                 "noVNC's 'Authentication failed'")
        except AssertionError as e:
            raise AssertionError(f"{e}; status {self.status()!r}\n" + diagnostics()) from None
        self.assertTrue(journal(MESSAGE="VNC login or session failed", RSM_USER="bob", RSM_TRANSPORT="websocket"))
        self.assertEqual(user_sessions("bob"), {}, "a refused login created a session")
        self.browser.navigate("about:blank")

    def test_5a_two_browsers_right_after_each_other(self):
        """A second browser on the same address started right after the
        first has logged alice in (her desktop on its page, its WebSocket
        open) gets the page and the credentials dialog too: the first page
        load's kept-alive connections (up to six, a process each) ended
        once idle, instead of lingering against MaxConnectionsPerSource=8
        until the authentication deadline."""
        # Fresh profiles: nothing from the browser cache, every file fetched.
        with Chromium(port=9336, profile="/tmp/chromium-systest-first") as first:
            n = len(journal(MESSAGE="VNC viewer connected to its session", RSM_USER="alice"))
            self.log_in_with_novnc("alice", "alice-pw", browser=first)
            try:
                wait(lambda: (lambda s: s if s and colour_share(s, RED) > 0.3 else None)(first.screenshot()), 90,
                     "alice's red desktop in the first browser")
            except AssertionError as e:
                raise AssertionError(f"{e}; status {self.status(first)!r}\n" + diagnostics()) from None
            with Chromium(port=9337, profile="/tmp/chromium-systest-second") as second:
                self.open_credentials_dialog(second)
                second.navigate("about:blank")
            first.navigate("about:blank")
        sid = journal(MESSAGE="VNC viewer connected to its session", RSM_USER="alice")[n]["RSM_SESSION_ID"]
        wait(lambda: user_sessions("alice")[sid]["state"] == "disconnected", 30,
             "alice's session to be disconnected after the first browser's page was left")

    def test_6_https_and_wss(self):
        """With gateway.toml's [tls] certificate the same port speaks HTTPS
        (the gateway's TLS, then MHD behind a socket pair): curl verifying
        the test CA gets noVNC's files, keep-alive requests share one
        connection, the WebSocket's Origin must be https://, and
        noVNC over wss:// (encrypt=1) in a Chromium that trusts the test CA
        logs alice in to her session (RSM_TLS=yes); a certificate of
        another CA is refused by that Chromium."""
        ca = configure_ca_certificate()
        try:
            with open("/usr/share/novnc/vnc.html", "rb") as f:
                page = f.read()
            status, head, body = curl("/", "--cacert", ca, base=HTTPS)
            self.assertEqual(status, 200, head + diagnostics())
            self.assertEqual(body, page, "GET / over HTTPS is not noVNC's vnc.html")
            # Two files on one kept-alive connection, one larger than the pump's buffers.
            r = subprocess.run(["curl", "-s", "--cacert", ca, "-w", "%{http_code} %{num_connects} %{size_download}\n",
                                "-o", "/dev/null", f"{HTTPS}/core/rfb.js", "-o", "/dev/null", f"{HTTPS}/app/ui.js"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.stdout.split("\n")[:2],
                             [f"200 1 {os.path.getsize('/usr/share/novnc/core/rfb.js')}",
                              f"200 0 {os.path.getsize('/usr/share/novnc/app/ui.js')}"], r.stderr + diagnostics())
            upgrade = (b"GET /websockify HTTP/1.1\r\nHost: 127.0.0.1:5900\r\nConnection: Upgrade\r\n"
                       b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                       b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
            answer = tls_request(upgrade + b"Origin: http://127.0.0.1:5900\r\n\r\n", ca)
            self.assertTrue(answer.startswith("HTTP/1.1 403"), answer)
            answer = tls_request(upgrade + b"Origin: https://127.0.0.1:5900\r\n\r\n", ca)
            self.assertTrue(answer.startswith("HTTP/1.1 101"), answer)

            type(self).browser.__exit__(None, None, None)
            type(self).browser = None
            n = len(journal(MESSAGE="VNC viewer connected to its session", RSM_USER="alice"))
            https_page = f"{HTTPS}/vnc.html?host=127.0.0.1&port={PORT}&encrypt=1&autoconnect=1"
            with Chromium(port=9334, profile="/tmp/chromium-systest-https", ca=ca) as b:
                # A certificate of another CA (self-signed, valid for
                # 127.0.0.1) is refused: nothing tells Chromium to ignore it.
                configure_certificate()
                error = b.navigate(https_page).get("errorText", "")
                self.assertIn("ERR_CERT_AUTHORITY_INVALID", error, diagnostics())
                configure_ca_certificate()
                self.log_in_with_novnc("alice", "alice-pw", browser=b, page=https_page)
                try:
                    wait(lambda: b.evaluate("document.documentElement.classList.contains('noVNC_connected')"), 90,
                         "noVNC's page to be connected over wss://")
                    shot = wait(lambda: (lambda s: s if s and colour_share(s, RED) > 0.3 else None)(b.screenshot()),
                                90, "alice's red desktop in Chromium's noVNC page over HTTPS")
                except AssertionError as e:
                    b.save_screenshot("/tmp/gateway_web_https_failed.png")
                    raise AssertionError(f"{e}\n" + diagnostics()) from None
                b.save_screenshot("/tmp/gateway_web_https_alice.png")
                self.assertGreater(colour_share(shot, RED), 0.3)
                self.assertEqual(b.evaluate("location.protocol"), "https:")
                entry = wait(lambda: journal(MESSAGE="VNC viewer connected to its session", RSM_USER="alice")[n:],
                             30, "alice's HTTPS connection in the journal")[-1]
                self.assertEqual(entry.get("RSM_TLS"), "yes")
                self.assertEqual(entry["RSM_TRANSPORT"], "websocket")
                self.assertEqual(entry["RSM_VENCRYPT_SUBTYPE"], "256")
                self.assertEqual(entry["RSM_CLIENT_ADDRESS"], "127.0.0.1")
                self.assertEqual(entry["RSM_REUSED"], "yes")  # the session test_4 left disconnected
                b.navigate("about:blank")
                sid = entry["RSM_SESSION_ID"]
                wait(lambda: user_sessions("alice")[sid]["state"] == "disconnected", 30,
                     "alice's session to be disconnected after the HTTPS page was left")
        finally:
            os.unlink("/etc/rsm/gateway.toml")

    def test_7_from_another_address(self):
        """A browser on another host (here: the host's own non-loopback
        address, the socket told to listen there too): over plain HTTP the
        WebSocket login is refused with "use https://", over HTTPS noVNC
        logs alice in (VeNCrypt Plain inside TLS)."""
        ip = next((a.split("/")[0] for line in run("ip", "-4", "-o", "addr", "show").stdout.splitlines()
                   for a in line.split()[3:4] if not a.startswith("127.")), None)
        if not ip:
            self.skipTest("no non-loopback IPv4 address")
        ca = configure_ca_certificate(ip)
        dropin = "/etc/systemd/system/rsm-gateway.socket.d/test-address.conf"
        os.makedirs(os.path.dirname(dropin), exist_ok=True)
        with open(dropin, "w") as f:
            f.write(f"[Socket]\nListenStream={ip}:{PORT}\n")
        try:
            run("systemctl", "daemon-reload")
            self.assertEqual(run("systemctl", "restart", "rsm-gateway.socket").returncode, 0)
            wait(lambda: not run("systemctl", "list-units", "--no-legend", "--state=active",
                                 "rsm-gateway@*").stdout.strip(), 60, "earlier connections to end")
            # Plain HTTP: noVNC's WebSocket gets a reason instead of security types.
            ws = websocket.create_connection(f"ws://{ip}:{PORT}/websockify", origin=f"http://{ip}:{PORT}", timeout=30)
            try:
                self.assertEqual(ws.recv(), b"RFB 003.008\n")
                ws.send_binary(b"RFB 003.008\n")
                answer = b""
                while len(answer) < 5 or len(answer) < 5 + struct.unpack(">I", answer[1:5])[0]:
                    answer += ws.recv()
            finally:
                ws.close()
            self.assertEqual(answer[0], 0, "security types offered to a non-loopback browser over plain HTTP")
            self.assertIn(b"use https://", answer[5:])
            # HTTPS: the same login is allowed.
            n = len(journal(MESSAGE="VNC viewer connected to its session", RSM_USER="alice"))
            with Chromium(port=9335, profile="/tmp/chromium-systest-remote", ca=ca) as b:
                self.log_in_with_novnc("alice", "alice-pw", browser=b,
                                       page=f"https://{ip}:{PORT}/vnc.html?host={ip}&port={PORT}&encrypt=1&autoconnect=1")
                try:
                    wait(lambda: (lambda s: s if s and colour_share(s, RED) > 0.3 else None)(b.screenshot()),
                         90, f"alice's red desktop over HTTPS from {ip}")
                except AssertionError as e:
                    raise AssertionError(f"{e}; status {self.status(b)!r}\n" + diagnostics()) from None
                entry = wait(lambda: journal(MESSAGE="VNC viewer connected to its session", RSM_USER="alice")[n:],
                             30, "alice's connection from another address in the journal")[-1]
                self.assertEqual(entry["RSM_CLIENT_ADDRESS"], ip)
                self.assertEqual(entry.get("RSM_TLS"), "yes")
                self.assertEqual(entry["RSM_VENCRYPT_SUBTYPE"], "256")
                b.navigate("about:blank")
        finally:
            os.unlink(dropin)
            run("systemctl", "daemon-reload")
            run("systemctl", "restart", "rsm-gateway.socket")
            os.unlink("/etc/rsm/gateway.toml")


def tls_request(request, ca=CERT):
    """The answer's head to a hand-written request over TLS (verifying the server's certificate with `ca`)."""
    ctx = ssl.create_default_context(cafile=ca)
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", PORT), timeout=15), server_hostname="127.0.0.1") as s:
        s.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.decode(errors="replace")


if __name__ == "__main__":
    unittest.main()
