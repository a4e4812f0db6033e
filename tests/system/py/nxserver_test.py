"""rsm-nxserver against the container's real systemd, logind, PAM and rsm
(scenarios/nxserver.sh): a scripted NX client speaks the nxserver dialogue
to /usr/libexec/rsm-nxserver run as the `nx` account (group rsm-gateway)
on pipes, with SSH_CONNECTION naming the client as sshd would; after bye
the same pipes carry the NX transport, which the test bridges to a local
TCP port for Debian's nxproxy. Proven: banner and prompts, hello's version
rule, an unknown command answered, a wrong password is NX> 404 with nothing
created, startsession gives the session info with the session's cookie and
nxproxy over the stream shows the session's red xterm; killing nxproxy ends
rsm-nxserver and suspends the session; listsession shows it suspended,
restoresession resumes the same xterm; terminate ends it. attachsession
(shadowing, docs/nx.md): bob asking for alice's session makes rsm ask alice
in her session (xmessage, as alice); no answer within [shadow]
consent_timeout or Deny refuses (NX> 500, nothing left running); Allow
starts nxagent -S as alice in her scope, and nxproxy through bob's stream
shows her xterm while her own client stays connected; the shadow ends with
bob's client. Alice attaching to her own session is not asked."""

import os
import re
import select
import signal
import socket
import subprocess
import threading
import time
import unittest

from nx_test import NxClientScreen, free_display, journal_nxagent, nxproxy
from rdp_client import RED, colour_share
from systest import end_all, login, pids, run, scope_gone, sessions, wait

USER = "alice"
PASSWORD = "alice-pw"
CLIENT = "10.20.30.40"  # the "SSH client": recorded only if rsm trusts rsm-nxserver
NXSERVER = "/usr/libexec/rsm-nxserver"
PROMPT = b"NX> 105 "


class NxServer:
    """rsm-nxserver as the nx account, its stream on pipes."""

    def __init__(self, argv=None, stderr="/tmp/nxserver-stderr.log"):
        env = {"PATH": "/usr/bin:/bin", "SSH_CONNECTION": f"{CLIENT} 40000 127.0.0.1 22"}
        argv = argv or ["setpriv", "--reuid=nx", "--regid=nx", "--init-groups", NXSERVER]
        self.stderr = open(stderr, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                     env=env, bufsize=0)
        self.buf = b""
        self.said = b""  # everything rsm-nxserver wrote

    def read_until(self, mark, timeout=90):
        deadline = time.monotonic() + timeout
        while mark not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {mark!r} within {timeout}s; got {self.said[-2000:]!r}")
            readable, _, _ = select.select([self.proc.stdout], [], [], left)
            if not readable:
                continue
            data = os.read(self.proc.stdout.fileno(), 65536)
            if not data:
                raise AssertionError(f"rsm-nxserver closed its stream before {mark!r}; got {self.said[-2000:]!r}")
            self.buf += data
            self.said += data
        head, _, self.buf = self.buf.partition(mark)
        return (head + mark).decode(errors="replace")

    def command(self, line, until=PROMPT, timeout=90):
        self.proc.stdin.write(line.encode() + b"\n")
        return self.read_until(until, timeout)

    def rest(self, timeout=10):
        """What it still says until it exits (its exit status checked by the caller)."""
        out = self.buf
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            readable, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if readable:
                data = os.read(self.proc.stdout.fileno(), 65536)
                if not data:
                    break
                out += data
        self.proc.wait(timeout)
        return out.decode(errors="replace")

    def login(self, password=PASSWORD, user=USER):
        banner = self.read_until(PROMPT)
        assert banner == "HELLO NXSERVER - Version 3.5.0 - GPL\nNX> 105 ", banner
        hello = self.command("hello NXCLIENT - Version 3.5.0")
        assert "NX> 134 Accepted protocol: 3.5.0" in hello, hello
        self.command("SET SHELL_MODE SHELL")
        self.command("login", b"NX> 101 User: ")
        self.command(user, b"NX> 102 Password: ")
        self.proc.stdin.write(password.encode() + b"\n")


class Bridge:
    """The client side of the SSH channel: a local port nxproxy connects
    to, bridged to rsm-nxserver's pipes (with what it wrote after its
    "NX> 999 Bye." line)."""

    def __init__(self, server):
        self.server = server
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.done = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        out, inp = self.server.proc.stdout, self.server.proc.stdin
        try:
            client, _ = self.listener.accept()
            self.listener.close()
            if self.server.buf:
                client.sendall(self.server.buf)
            while True:
                readable, _, _ = select.select([client, out], [], [], 300)
                if not readable:
                    break
                if client in readable:
                    data = client.recv(65536)
                    if not data:
                        break
                    inp.write(data)
                if out in readable:
                    data = os.read(out.fileno(), 65536)
                    if not data:
                        break
                    client.sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            for f in (inp, out):
                try:
                    f.close()
                except OSError:
                    pass
            self.done.set()


def info_lines(text):
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^NX> (7\d\d) [^:]+: (.*)$", text, re.M)}


class NxServerTest(unittest.TestCase):
    screen = None

    @classmethod
    def setUpClass(cls):
        cls.screen = NxClientScreen(free_display(), "1280x1024x24").__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.screen.__exit__(None, None, None)
        end_all(USER, "127.0.0.1")

    def alice_sessions(self):
        g = login(USER, "127.0.0.1")
        try:
            return sessions(g)
        finally:
            g.Close()

    def see_red(self, what):
        try:
            self.screen.wait_for(what, lambda shot: colour_share(shot, RED) > 0.2, 60)
        except AssertionError as e:
            log = open("/tmp/nxproxy.log", errors="replace").read()[-3000:]
            raise AssertionError(f"{e}\n--- nxagent\n{journal_nxagent()}\n--- nxproxy\n{log}") from None

    def test_1_version_mismatch_refused(self):
        s = NxServer()
        s.read_until(PROMPT)
        text = s.command("hello NXCLIENT - Version 3.4.0", b"NX> 999 Bye.\n")
        self.assertIn("NX> 500 Protocol you requested is not supported", text)
        s.rest()
        self.assertNotEqual(s.proc.returncode, None)

    def test_2_unknown_command_and_order(self):
        s = NxServer()
        s.read_until(PROMPT)
        self.assertIn("NX> 503 Error: undefined command: 'frobnicate'", s.command("frobnicate --x=\"1\""))
        self.assertIn("NX> 554 Error: the command 'startsession' cannot be called before to login",
                      s.command("startsession"))
        s.command("quit", b"NX> 999 Bye.\n")
        s.rest()
        self.assertEqual(s.proc.returncode, 0)

    def test_3_wrong_password(self):
        before = set(self.alice_sessions())
        s = NxServer()
        s.login("not-her-password")
        rest = s.rest(30)
        self.assertIn("NX> 404 ERROR: wrong password or login.", rest)
        self.assertNotIn("not-her-password", s.said.decode(errors="replace") + rest)
        self.assertEqual(set(self.alice_sessions()), before, "no session was created")
        self.assertFalse(pids(USER, "nxagent"))

    def test_4_long_line_ends_the_dialogue(self):
        s = NxServer()
        s.read_until(PROMPT)
        s.proc.stdin.write(b"x" * 10000)
        self.assertIn("NX> 500 Error: line too long", s.rest(20))

    def test_5_session(self):
        # Log in, nothing listed yet, start a session.
        s = NxServer()
        s.login()
        s.read_until(PROMPT)
        self.assertIn("NX> 103 Welcome to: ", s.said.decode())
        self.assertIn("**********", s.said.decode())
        self.assertNotIn(PASSWORD, s.said.decode(), "the password is never written back")
        table = s.command('listsession --type="unix-desktop" --status="suspended,running"')
        self.assertIn("NX> 127 Session list of user 'alice':", table)
        self.assertIn("NX> 148 Server capacity: not reached for user: alice", table)
        started = s.command('startsession --session="t" --type="unix-desktop" --geometry="1024x768+0+0" --link="lan"')
        self.assertIn("NX> 710 Session status: running", started)
        info = info_lines(started)
        sid, display, cookie = info[700], int(info[705]), info[701]
        self.assertEqual(info[706], cookie)
        self.assertRegex(cookie, r"^[0-9a-f]{32}$")
        rows = self.alice_sessions()
        self.assertEqual(rows[sid]["display_type"], "nxagent")
        self.assertEqual(rows[sid]["display"], f":{display}")
        self.assertEqual((rows[sid]["width"], rows[sid]["height"]), (1024, 768))
        self.assertEqual(rows[sid]["client_address"], CLIENT, "rsm trusted the nx account's address claim")
        # The cookie is the session's own (its options file).
        uid = int(rows[sid]["uid"])
        options = open(f"/run/rsm/user/{uid}/nx-options-{sid}").read()
        self.assertIn(f"cookie={cookie}:", options)

        # bye: the stream now is the session's; nxproxy through it.
        s.command("bye", b"NX> 999 Bye.\n")
        bridge = Bridge(s)
        log = open("/tmp/nxproxy.log", "ab")
        proxy = nxproxy(self.screen, bridge.port, cookie, log)
        wait(lambda: self.alice_sessions()[sid]["state"] == "active", 20, "the session to be active")
        self.see_red("the session's red xterm through rsm-nxserver's stream")
        xterms = pids(USER, "xterm")
        self.assertEqual(len(xterms), 1)
        self.assertIsNone(s.proc.poll(), "rsm-nxserver relays (no other process)")

        # The client goes: rsm-nxserver ends, the session is suspended.
        os.killpg(proxy.pid, signal.SIGKILL)
        proxy.wait()
        self.assertTrue(bridge.done.wait(30))
        s.proc.wait(30)
        wait(lambda: self.alice_sessions()[sid]["state"] == "disconnected", 30, "the session to be disconnected")
        wait(lambda: colour_share(self.screen.screenshot() or b"", RED) < 0.05, 30, "the client's screen to clear")
        # No wait for nxagent to listen again (0.1-1 s after the loss,
        # docs/nx.md): rsm's ConnectSession waits for it.

        # A new dialogue: listsession shows it suspended; restore it.
        s2 = NxServer()
        s2.login()
        s2.read_until(PROMPT)
        listed = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            listed = s2.command('listsession --type="unix-desktop"')
            if re.search(rf"^{display}\s+unix-desktop\s+{sid} .*Suspended", listed, re.M):
                break
            time.sleep(0.5)
        self.assertRegex(listed, rf"(?m)^{display}\s+unix-desktop\s+{sid}\s+--D--PSA\s+24\s+1024x768\s+Suspended\s+rsm$")
        self.assertIn("NX> 500 Failed to load session", s2.command('restoresession --id="' + "0" * 32 + '"'))
        restored = s2.command(f'restoresession --id="{sid.upper()}" --type="unix-desktop"')
        self.assertEqual(info_lines(restored)[700], sid)
        self.assertEqual(info_lines(restored)[701], cookie)
        s2.command("bye", b"NX> 999 Bye.\n")
        bridge2 = Bridge(s2)
        proxy2 = nxproxy(self.screen, bridge2.port, cookie, log)
        self.see_red("the same red xterm after restoresession")
        self.assertEqual(pids(USER, "xterm"), xterms, "the same xterm process")
        os.killpg(proxy2.pid, signal.SIGKILL)
        proxy2.wait()
        bridge2.done.wait(30)
        s2.proc.wait(30)

        # terminate ends it.
        s3 = NxServer()
        s3.login()
        s3.read_until(PROMPT)
        self.assertIn(f"NX> 716 Terminating session {sid} on user request.",
                      s3.command(f'terminate --sessionid="{sid}"'))
        s3.command("bye", b"NX> 999 Bye.\n")
        s3.rest()
        wait(lambda: sid not in self.alice_sessions(), 30, "the session to end")
        wait(lambda: scope_gone(sid), 20, "the scope to go")
        wait(lambda: not pids(USER, "nxagent"), 20, "nxagent to exit")
        log.close()

    def test_6_over_sshd(self):
        """The NX client's way in: ssh to the nx account, whose login shell is
        rsm-nxserver, through the real sshd (sshd -i, started by ssh's
        ProxyCommand: no port); the dialogue and then the NX transport run
        on the SSH channel."""
        ssh = ["ssh", "-T", "-e", "none", "-F", "/dev/null", "-i", "/tmp/nxssh/client_key",
               "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "ProxyCommand=/usr/sbin/sshd -i -f /tmp/nxssh/sshd_config", "-l", "nx", "nxhost"]
        s = NxServer(ssh, "/tmp/nxserver-ssh-stderr.log")
        try:
            s.login()
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- ssh/sshd\n" + open("/tmp/nxserver-ssh-stderr.log", errors="replace").read()[-3000:]) from None
        s.read_until(PROMPT)
        started = s.command('startsession --type="unix-desktop" --geometry="1024x768"')
        info = info_lines(started)
        sid, cookie = info[700], info[701]
        s.command("bye", b"NX> 999 Bye.\n")
        bridge = Bridge(s)
        log = open("/tmp/nxproxy.log", "ab")
        proxy = nxproxy(self.screen, bridge.port, cookie, log)
        self.see_red("the session's red xterm over ssh to the nx account")
        # sshd ran rsm-nxserver as nx; rsm-nxserver relays itself (no netcat).
        self.assertTrue(pids("nx", "rsm-nxserver"))
        self.assertFalse(pids("nx", "nc") + pids("nx", "netcat"))
        os.killpg(proxy.pid, signal.SIGKILL)
        proxy.wait()
        self.assertTrue(bridge.done.wait(30))
        s.proc.wait(30)
        wait(lambda: self.alice_sessions()[sid]["state"] == "disconnected", 30, "the session to be disconnected")
        wait(lambda: not pids("nx", "rsm-nxserver"), 30, "rsm-nxserver to exit with the SSH channel")
        # Its diagnostics went to the journal, not to the client's channel.
        self.assertNotIn("NX login", open("/tmp/nxserver-ssh-stderr.log", errors="replace").read())
        wait(lambda: "NX client disconnected from its session" in run(
            "journalctl", "--no-pager", "-o", "cat", "SYSLOG_IDENTIFIER=rsm-nxserver", f"RSM_SESSION_ID={sid}").stdout,
            10, "rsm-nxserver's journal entries with the session's id")
        g = login(USER, "127.0.0.1")
        g.TerminateSession(sid, timeout=30)
        g.Close()
        wait(lambda: sid not in self.alice_sessions(), 30, "the session to end")
        log.close()

    def consent_dialog(self, uid, sid, display):
        """The xmessage rsm started as alice on her display (its window)."""
        wait(lambda: pids(USER, "xmessage"), 20, "the consent dialog as alice")
        env = dict(os.environ, DISPLAY=display, XAUTHORITY=f"/run/rsm/user/{uid}/Xauthority-{sid}")
        win = subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--class", "Xmessage"], env=env,
                             capture_output=True, text=True, timeout=20).stdout.split()
        self.assertTrue(win, "the dialog's window on alice's display")
        return env, win[-1]

    def test_7_attachsession(self):
        # Alice's session, her client connected.
        a = NxServer()
        a.login()
        a.read_until(PROMPT)
        info = info_lines(a.command('startsession --type="unix-desktop" --geometry="1024x768"'))
        sid, display, cookie = info[700], int(info[705]), info[701]
        a.command("bye", b"NX> 999 Bye.\n")
        bridge = Bridge(a)
        log = open("/tmp/nxproxy.log", "ab")
        proxy = nxproxy(self.screen, bridge.port, cookie, log)
        self.see_red("alice's red xterm")
        uid = int(self.alice_sessions()[sid]["uid"])
        agents = pids(USER, "nxagent")
        self.assertEqual(len(agents), 1)

        def bob():
            b = NxServer()
            b.login("bob-pw", "bob")
            b.read_until(PROMPT)
            return b

        # No answer: refused after consent_timeout (8 s here), the dialog ended.
        b = bob()
        b.proc.stdin.write(f'attachsession --id="{sid}" --type="shadow"\n'.encode())
        self.consent_dialog(uid, sid, f":{display}")
        refused = b.read_until(PROMPT, 60)
        self.assertIn(f"NX> 500 Error: the owner of session {sid} did not answer within 8 seconds", refused)
        wait(lambda: not pids(USER, "xmessage"), 10, "the dialog to be ended")
        self.assertEqual(pids(USER, "nxagent"), agents, "no shadowing nxagent without consent")

        # Deny (Return: the dialog's default).
        b.proc.stdin.write(f'attachsession --id="{sid}"\n'.encode())
        env, win = self.consent_dialog(uid, sid, f":{display}")
        # No window manager: the keyboard goes where the pointer is.
        subprocess.run(["xdotool", "mousemove", "--window", win, "5", "5", "key", "Return"], env=env, check=True,
                       timeout=20)
        refused = b.read_until(PROMPT, 60)
        self.assertRegex(refused, rf"NX> 500 Error: the owner of session {sid} refused")
        self.assertEqual(pids(USER, "nxagent"), agents)

        # Allow: a shadowing nxagent as alice, in her scope.
        b.proc.stdin.write(f'attachsession --id="{sid}"\n'.encode())
        env, win = self.consent_dialog(uid, sid, f":{display}")
        geometry = subprocess.run(["xdotool", "getwindowgeometry", "--shell", win], env=env, capture_output=True,
                                  text=True, check=True, timeout=20).stdout
        height = int(re.search(r"HEIGHT=(\d+)", geometry).group(1))
        # "Allow" is the first button, at the bottom left.
        subprocess.run(["xdotool", "mousemove", "--window", win, "20", str(height - 12), "click", "1"], env=env,
                       check=True, timeout=20)
        shadowed = b.read_until(PROMPT, 60)
        self.assertIn("NX> 710 Session status: running", shadowed, shadowed)
        sinfo = info_lines(shadowed)
        self.assertEqual(sinfo[700], sid)
        self.assertEqual(sinfo[703], "shadow")
        shadow_display, shadow_cookie = int(sinfo[705]), sinfo[701]
        self.assertNotEqual(shadow_display, display)
        self.assertNotEqual(shadow_cookie, cookie, "the shadow has a cookie of its own, never the session's")
        # nxagent -S as alice (it forks a helper of its own), in her scope.
        shadow_agents = [p for p in pids(USER, "nxagent") if p not in agents]
        self.assertTrue(shadow_agents, "a shadowing nxagent, as alice")
        for p in shadow_agents:
            self.assertIn("-S", open(f"/proc/{p}/cmdline").read().split("\0"))
            self.assertIn(f"rsm-session-{sid}.scope", open(f"/proc/{p}/cgroup").read(),
                          "the shadow runs in the session's scope")
        options = f"/run/rsm/user/{uid}/nx-options-shadow-{sid}-{shadow_display}"
        self.assertIn(f"shadow=:{display},shadowmode=1", open(options).read())
        self.assertNotIn(cookie, open(options).read())

        b.command("bye", b"NX> 999 Bye.\n")
        bob_bridge = Bridge(b)
        bob_screen = NxClientScreen(free_display(), "1280x1024x24").__enter__()
        try:
            bob_proxy = nxproxy(bob_screen, bob_bridge.port, shadow_cookie, log)
            try:
                bob_screen.wait_for("alice's xterm on bob's screen, through the shadow",
                                    lambda shot: colour_share(shot, RED) > 0.2, 60)
            except AssertionError as e:
                raise AssertionError(f"{e}\n--- journal\n" + run(
                    "journalctl", "--no-pager", "-o", "cat", "-n", "80", f"SYSLOG_IDENTIFIER=rsm-shadow-{sid}").stdout)
            self.assertEqual(self.alice_sessions()[sid]["state"], "active", "alice's own client stays connected")
            self.assertIsNone(proxy.poll(), "alice's nxproxy still runs")
            # Bob's client goes: the shadow ends (nxagent -nopersistent), its files go.
            os.killpg(bob_proxy.pid, signal.SIGKILL)
            bob_proxy.wait()
            self.assertTrue(bob_bridge.done.wait(30))
            wait(lambda: pids(USER, "nxagent") == agents, 30, "the shadowing nxagent to exit")
            wait(lambda: not os.path.exists(options), 10, "the shadow's options file to be removed")
        finally:
            bob_screen.__exit__(None, None, None)

        # Alice attaching to her own session: nobody is asked.
        s = NxServer()
        s.login()
        s.read_until(PROMPT)
        own = s.command(f'attachsession --id="{sid}"', timeout=60)
        self.assertIn("NX> 710 Session status: running", own)
        self.assertFalse(pids(USER, "xmessage"), "no dialog for the owner's own request")
        s.proc.stdin.close()  # the client goes before connecting: the shadow ends
        s.proc.wait(30)
        wait(lambda: pids(USER, "nxagent") == agents, 30, "the unused shadow to end")

        os.killpg(proxy.pid, signal.SIGKILL)
        proxy.wait()
        bridge.done.wait(30)
        a.proc.wait(30)
        g = login(USER, "127.0.0.1")
        g.TerminateSession(sid, timeout=30)
        g.Close()
        wait(lambda: sid not in self.alice_sessions(), 30, "the session to end")
        log.close()


if __name__ == "__main__":
    unittest.main()
