"""Sessions of type "nxagent" against the container's real systemd, logind
and PAM (scenarios/nx.sh), with Debian's nxagent and nxproxy: the session is
ready when nxagent says "Waiting for connection"; nxagent runs as the user,
listens on 127.0.0.1:4000+N only and reads its cookie from a 0600 file of the
user's (never from its command line); ConnectSession hands a socket
connected to that port and the cookie; real nxproxy, fed through that
socket, shows the session's red xterm on the client's screen; killing
nxproxy leaves the session disconnected (nxagent suspends itself and, told
by rsm with SIGHUP, listens again); a reconnect resumes the same xterm. A
second ConnectSession while a client is connected (nxagent not listening)
fails with DisplayNotListening; a display whose NX port a foreign listener
holds is skipped."""

import glob
import os
import select
import signal
import socket
import subprocess
import threading
import unittest

import gw
import session_client as sc
from rdp_client import RED, ClientScreen, colour_share, colours
from systest import end_all, login, pids, record, run, scope_gone, sessions, unit_prop, wait, write_dropin

USER = "alice"
ADDR = "127.0.0.1"
DROPIN = "/etc/rsm/rsm.toml.d/60-nx.toml"


class Relay:
    """What a gateway does with ConnectSession's fds: a local TCP port
    nxproxy connects to, relayed to the display socket; when either side
    closes, both fds (and the control channel) are closed, unless
    keep_fds: then the client's EOF is passed on as a half-close towards
    nxagent (as a TCP relay does) and both fds stay open, the control
    channel with them: a gateway that never looks at the session again."""

    def __init__(self, display, control, keep_fds=False):
        self.display, self.control, self.keep_fds = display, control, keep_fds
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            client, _ = self.listener.accept()
            self.listener.close()
            pair = {client: self.display, self.display: client}
            while True:
                readable, _, _ = select.select(list(pair), [], [], 120)
                if not readable:
                    break
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        if self.keep_fds and s is client:
                            self.display.shutdown(socket.SHUT_WR)
                        raise EOFError
                    pair[s].sendall(data)
        except (OSError, EOFError):
            pass
        finally:
            for s in () if self.keep_fds else (self.display, self.control):
                try:
                    s.close()
                except OSError:
                    pass
            self.done.set()


class NxClientScreen(ClientScreen):
    """The client's Xvfb, with -noreset: an X server resets when its last
    client leaves and then closes every connection still in its setup, so
    an xwd screenshot ending while nxproxy opens its X connection for
    nxagent killed that connection ("Unable to open display" on nxagent's
    side). A user's X server has clients of its own and never resets here.
    It logs every connection it accepts or refuses (-audit 4) to
    /tmp/xvfb.log, shown when a picture does not come."""

    def __enter__(self):
        self.log = open("/tmp/xvfb.log", "ab")
        self.proc = subprocess.Popen(["Xvfb", self.display, "-screen", "0", self.geometry, "-nolisten", "tcp",
                                      "-noreset", "-audit", "4"],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        wait(lambda: os.path.exists(f"/tmp/.X11-unix/X{self.display[1:]}"), 20, "the client's Xvfb")
        return self

    def __exit__(self, *exc):
        super().__exit__(*exc)
        self.log.close()


def nxproxy(screen, port, cookie, log):
    env = dict(os.environ, DISPLAY=screen.display)
    return subprocess.Popen(["nxproxy", "-S", f"nx/nx,connect=127.0.0.1,port={port},cookie={cookie}:99"],
                            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)


def free_display():
    """A client display number nobody uses: containers share the host's
    network namespace, so X servers' abstract sockets (@/tmp/.X11-unix/X<n>,
    which nxproxy prefers) of other test runs are visible here."""
    used = subprocess.run(["ss", "-Hxl"], capture_output=True, text=True).stdout
    for n in range(150, 400):
        if f"/tmp/.X11-unix/X{n} " not in used + " " and not os.path.exists(f"/tmp/.X11-unix/X{n}"):
            return f":{n}"
    raise AssertionError("no free X display number for the client")


def listening(port):
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout
    return [line.split()[3] for line in out.splitlines() if line.strip()]


def journal_nxagent():
    return run("journalctl", "--no-pager", "-o", "cat", "-n", "60", "SYSLOG_IDENTIFIER=nxagent",
               "+", "_COMM=rsm-session").stdout


class NxSessionTest(unittest.TestCase):
    screen = None

    @classmethod
    def setUpClass(cls):
        cls.proxies = []  # nxproxy pids, to find their lines in the Xvfb log
        cls.screen = NxClientScreen(free_display(), "1280x1024x24").__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.screen.__exit__(None, None, None)
        end_all(USER, ADDR)

    def see_red(self, what):
        try:
            self.screen.wait_for(what, lambda shot: colour_share(shot, RED) > 0.2, 60)
        except AssertionError as e:
            errors = ""
            for path in glob.glob(f"/home/{USER}/.nx/C-*/errors") + glob.glob(os.path.expanduser("~/.nx/S-*/*")):
                errors += f"\n--- {path}\n" + open(path, errors="replace").read()[-3000:]
            sockets = run("ss", "-Hlxtn").stdout
            raise AssertionError(f"{e}\n--- nxagent and rsm-session\n{journal_nxagent()}\n--- nxproxy\n"
                                 + open("/tmp/nxproxy.log", errors="replace").read()[-3000:] + errors
                                 + "\n--- Xvfb (nxproxy's connections, refusals)\n" + self.xvfb_lines()
                                 + "\n--- listening\n" + sockets) from None

    def xvfb_lines(self):
        """Lines of the client Xvfb's audit log about nxproxy or a refusal
        (xwd's screenshots, the rest, connect every moment)."""
        marks = [f"pid={pid} " for pid in self.proxies] + ["reject", "Xvfb", "rror"]
        with open("/tmp/xvfb.log", errors="replace") as f:
            return "".join(line for line in f if any(m in line for m in marks))[-4000:]

    def attach(self, g, sid, keep_fds=False):
        fds, details = sc.connect_session(g, sid, client_name="nx-client")
        relay = Relay(fds["display"], fds["control"], keep_fds)
        log = open("/tmp/nxproxy.log", "ab")
        proxy = nxproxy(self.screen, relay.port, details["nx_cookie"], log)
        self.proxies.append(proxy.pid)
        return details, relay, proxy

    def test_a_taken_nx_port_is_skipped(self):
        # A foreign listener on the NX port of the range's first display
        # (scenarios/nx.sh: 730..739): the manager skips that number
        # instead of starting an nxagent that cannot bind it.
        first = 730
        foreign = socket.socket()
        try:
            foreign.bind(("127.0.0.1", 4000 + first))
            foreign.listen(1)
            g = login(USER, ADDR)
            sid, _ = sc.create_session(g, type="nxagent", width=800, height=600)
            number = int(sessions(g)[sid]["display"][1:])
            self.assertNotEqual(number, first)
            self.assertEqual(listening(4000 + number), [f"127.0.0.1:{4000 + number}"])
            g.TerminateSession(sid, timeout=30)
            wait(lambda: sid not in sessions(g), 30, "the session to end")
            wait(lambda: not pids(USER, "nxagent"), 20, "nxagent to exit")
            g.Close()
        finally:
            foreign.close()

    def test_b_rsm_rules_apply_to_nx_sessions(self):
        """An nxagent session is a session like the others: pam_systemd
        registered it with logind, Manager1 (rsmctl) lists it, it survives
        a kill -9 of the manager with its client connected, and the
        disconnected timer ends it once its client is gone."""
        g = login(USER, ADDR)
        sid, _ = sc.create_session(g, type="nxagent", width=800, height=600)
        rec = record(sid)
        self.assertTrue(rec["LOGIND_SESSION"], "pam_systemd registered the session")
        logind = run("loginctl", "show-session", rec["LOGIND_SESSION"], "-p", "Type", "-p", "Name", "-p", "Service")
        self.assertIn("Type=x11", logind.stdout)
        self.assertIn(f"Name={USER}", logind.stdout)
        listed = run("rsmctl", "list")
        self.assertIn(sid, listed.stdout, listed.stdout + listed.stderr)
        self.assertIn("nxagent", listed.stdout)

        details, relay, proxy = self.attach(g, sid)
        wait(lambda: sessions(g)[sid]["state"] == "active", 20, "the session to be active")
        self.see_red("the session's red xterm before the manager's kill -9")
        agents, xterms = pids(USER, "nxagent"), pids(USER, "xterm")
        old_pid = unit_prop("rsm-manager.service", "MainPID")
        os.kill(int(old_pid), signal.SIGKILL)
        wait(lambda: unit_prop("rsm-manager.service", "MainPID") not in ("0", old_pid)
             and unit_prop("rsm-manager.service", "ActiveState") == "active", 30, "the manager to restart")
        g2 = login(USER, ADDR)
        wait(lambda: (sessions(g2).get(sid) or {}).get("state") == "active", 30, "the session back, still active")
        self.assertIsNone(proxy.poll(), "the NX client stayed connected")
        self.assertEqual(pids(USER, "xterm"), xterms)
        self.assertIn(min(agents), pids(USER, "nxagent"))
        self.see_red("the same xterm after the manager's kill -9")

        # The disconnected timer: the client goes, the session ends.
        write_dropin(DROPIN, "[session]\ndisconnected_timeout = 2\n")
        try:
            self.assertEqual(run("systemctl", "reload", "rsm-manager.service").returncode, 0)
            os.killpg(proxy.pid, signal.SIGKILL)
            proxy.wait()
            self.assertTrue(relay.done.wait(30))
            wait(lambda: sid not in sessions(g2), 30, "the disconnected timer to end the session")
            self.assertTrue(gw.wait_journal("was disconnected too long", "-o", "cat"))
            wait(lambda: scope_gone(sid), 20, "the scope to go")
        finally:
            write_dropin(DROPIN, None)
            run("systemctl", "reload", "rsm-manager.service")
        g2.Close()  # (g went with the killed manager)

    def test_nx_session(self):
        g = login(USER, ADDR)
        # The reply comes only once nxagent printed its ready line.
        sid, reused = sc.create_session(g, type="nxagent", width=1024, height=768)
        self.assertFalse(reused)
        s = sessions(g)[sid]
        self.assertEqual(s["display_type"], "nxagent")
        self.assertEqual(s["state"], "disconnected")
        number = int(s["display"][1:])
        port = 4000 + number
        uid = int(s["uid"])

        # nxagent runs as alice, listens on 127.0.0.1 only, and the cookie
        # is not on its command line but in her 0600 options file.
        agents = pids(USER, "nxagent")
        self.assertTrue(agents, "nxagent runs as alice")
        self.assertEqual(listening(port), [f"127.0.0.1:{port}"])
        options = f"/run/rsm/user/{uid}/nx-options-{sid}"
        st = os.stat(options)
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (uid, 0o600))
        text = open(options).read()
        self.assertRegex(text, rf"^nx/nx,.*listen={port},loopback=1,accept=127\.0\.0\.1,cookie=[0-9a-f]{{32}}:{number}$")
        cookie = text.rsplit("cookie=", 1)[1].split(":")[0]
        for pid in agents:
            with open(f"/proc/{pid}/cmdline") as f:
                self.assertNotIn(cookie, f.read(), "the cookie is not on nxagent's command line")
        self.assertIn("Waiting for connection", journal_nxagent(), "nxagent's stderr reaches the journal")

        # First connection: the session's red xterm on the client's screen.
        details, relay, proxy = self.attach(g, sid)
        self.assertEqual(details["protocol"], "nx")
        self.assertEqual(details["nx_cookie"], cookie)
        wait(lambda: sessions(g)[sid]["state"] == "active", 20, "the session to be active")
        self.see_red("the session's red xterm through nxproxy")
        xterms = pids(USER, "xterm")
        self.assertEqual(len(xterms), 1)

        # While its client is connected nxagent does not listen. A second
        # ConnectSession takes the session over all the same (the newest
        # connection wins): rsm cuts the first client off, nxagent suspends,
        # listens again on the leader's SIGHUP, and the answer comes then.
        self.assertEqual(listening(port), [])
        details_b, relay_b, proxy_b = self.attach(g, sid)
        self.assertTrue(relay.done.wait(30), "the first client's stream was cut off")
        wait(lambda: proxy.poll() is not None, 30, "the first nxproxy to lose its session")
        self.assertEqual(details_b["nx_cookie"], cookie)
        wait(lambda: sessions(g)[sid]["state"] == "active", 20, "the session to be active with the second client")
        self.see_red("the same red xterm through the second client")
        self.assertEqual(pids(USER, "xterm"), xterms, "the same xterm process")
        self.assertIn("taken over by another connection", run(
            "journalctl", "--no-pager", "-o", "cat", "SYSLOG_IDENTIFIER=rsm-session", f"RSM_SESSION_ID={sid}").stdout)
        relay, proxy = relay_b, proxy_b

        # The NX client goes away: the gateway side closes, the session is
        # disconnected; nxagent suspends itself and listens again (SIGHUP).
        os.killpg(proxy.pid, signal.SIGKILL)  # nxproxy and whatever it forked
        proxy.wait()
        self.assertTrue(relay.done.wait(30), "the relay saw nxproxy go")
        wait(lambda: sessions(g)[sid]["state"] == "disconnected", 30, "the session to be disconnected")
        wait(lambda: "Session: Session suspended" in journal_nxagent(), 30, "nxagent to suspend the session")
        wait(lambda: listening(port) == [f"127.0.0.1:{port}"], 30, "nxagent to listen again")
        self.assertIn("SIGHUP makes it listen again", journal_nxagent())

        # nxproxy's window went with it: the next picture is a new one.
        wait(lambda: colour_share(self.screen.screenshot() or b"", RED) < 0.05, 30, "the client's screen to clear")

        # Reconnect: the same session, the same xterm. This gateway keeps
        # its fds when the client goes (only half-closing towards nxagent).
        details2, relay2, proxy2 = self.attach(g, sid, keep_fds=True)
        wait(lambda: sessions(g)[sid]["state"] == "active", 20, "the session to be active again")
        self.see_red("the same red xterm after the reconnect")
        self.assertEqual(pids(USER, "xterm"), xterms, "the same xterm process")
        # (nxagent forks helpers of its own name now and then: the first stays.)
        self.assertIn(min(agents), pids(USER, "nxagent"), "the same nxagent")
        wait(lambda: "Session: Session resumed" in journal_nxagent(), 30, "nxagent to resume")
        os.killpg(proxy2.pid, signal.SIGKILL)
        proxy2.wait()
        self.assertTrue(relay2.done.wait(30))
        # rsm sees nxagent drop the connection when it suspends: the session
        # is disconnected although the gateway still holds its control channel.
        wait(lambda: sessions(g)[sid]["state"] == "disconnected", 30,
             "the session to be disconnected while the gateway keeps its fds")
        self.assertIn("the display server closed the gateway's connection", run(
            "journalctl", "--no-pager", "-o", "cat", "SYSLOG_IDENTIFIER=rsm-session", f"RSM_SESSION_ID={sid}").stdout)
        relay2.display.close()
        relay2.control.close()

        # The end: nothing left, the options file gone.
        g.TerminateSession(sid, timeout=30)
        wait(lambda: sid not in sessions(g), 30, "the session to end")
        wait(lambda: not pids(USER, "nxagent"), 20, "nxagent to exit")
        wait(lambda: scope_gone(sid), 20, "the scope to go")
        self.assertFalse(os.path.exists(options))
        self.assertEqual(listening(port), [])
        g.Close()


if __name__ == "__main__":
    unittest.main()
