"""SCP v0 code 20 (Xorg + xorgxrdp) through the real xrdp 0.9.21 and the real
xfreerdp, and xrdp's channel server (chansrv) as a companion of the session.

xrdp picks its section by autorun= before the client's domain, and the
scenario sets autorun=Xvnc; xrdp reads xrdp.ini again for every connection,
so this module points autorun at [Xorg] (code=20) for its own tests only."""

import os
import re
import time
import unittest

import xrdp_sessions
from rdp_client import RED, ClientScreen, colour_share, diagnostics, stop, wait_xrdp_listening
from systest import end_all, pids, run, wait

USER = "bob"
INI = "/etc/xrdp/xrdp.ini"
XRDP_LOG = "/var/log/xrdp.log"
SOCKDIR = "/run/xrdp/sockdir"


def proc_status_uids(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return {int(x) for x in line.split()[1:]}
    return set()


def cgroup(pid):
    with open(f"/proc/{pid}/cgroup") as f:
        return f.read().strip()


def environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return dict(e.split("=", 1) for e in f.read().decode(errors="replace").split("\0") if "=" in e)


def log_size():
    try:
        return os.path.getsize(XRDP_LOG)
    except OSError:
        return 0


def log_since(offset):
    with open(XRDP_LOG, errors="replace") as f:
        f.seek(offset)
        return f.read()


class XorgRdpTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        with open(INI) as f:
            cls.ini = f.read()
        with open(INI, "w") as f:
            f.write(re.sub(r"(?m)^autorun=.*$", "autorun=Xorg", cls.ini))
        cls.screen = ClientScreen(display=":72").__enter__()
        wait_xrdp_listening()

    @classmethod
    def tearDownClass(cls):
        cls.screen.__exit__(None, None, None)
        with open(INI, "w") as f:
            f.write(cls.ini)

    def tearDown(self):
        end_all(USER, "127.0.0.1")

    def test_xorg_desktop_with_chansrv(self):
        offset = log_size()
        started = time.monotonic()
        client = self.screen.xfreerdp(USER, USER + "-pw")
        try:
            self.screen.wait_for("the session's red xterm through xorgxrdp", lambda s: colour_share(s, RED) > 0.3)
            elapsed = time.monotonic() - started
            log = log_since(offset)
            # Code 20: xrdp's xup module went to xorgxrdp's unix socket, and
            # its connection to chansrv succeeded at the first try (without
            # chansrv it retries 4 x 3 s and logs these warnings, ~16 s of
            # black screen).
            self.assertIn("lib_mod_connect: connecting via UNIX socket", log, diagnostics())
            self.assertIn("xrdp_mm_chansrv_connect: chansrv connect successful", log, log)
            self.assertNotIn("xrdp_mm_chansrv_connect: connect failed", log, log)
            self.assertNotIn("error in trans_connect chan", log, log)

            xorg = pids(USER, "Xorg")
            self.assertEqual(len(xorg), 1, "one Xorg of the user")
            with open(f"/proc/{xorg[0]}/cmdline") as f:
                display = f.read().split("\0")[1]
            number = display[1:]
            uid = int(run("id", "-u", USER).stdout)
            # xorgxrdp listens where xrdp looks ([display.xorg] environment).
            sock = f"{SOCKDIR}/xrdp_display_{number}"
            self.assertEqual(os.stat(sock).st_uid, uid, sock)
            self.assertEqual(environ(xorg[0]).get("XRDP_SOCKET_PATH"), SOCKDIR)

            # chansrv: one, the user's, on this display, in the session's
            # cgroup (the same as its display server), and xrdp is connected
            # to its socket.
            chansrv = pids(USER, "xrdp-chansrv")
            self.assertEqual(len(chansrv), 1, "one xrdp-chansrv of the user")
            self.assertEqual(proc_status_uids(chansrv[0]), {uid})
            env = environ(chansrv[0])
            self.assertEqual(env.get("DISPLAY"), display)
            self.assertEqual(env.get("XRDP_SOCKET_PATH"), SOCKDIR)
            self.assertEqual(cgroup(chansrv[0]), cgroup(xorg[0]))
            chansock = f"{SOCKDIR}/xrdp_chansrv_socket_{number}"
            established = run("ss", "-xH", "state", "established", "src", chansock).stdout
            self.assertTrue(established.strip(), f"no connection on {chansock}\n" + run("ss", "-xa").stdout)
            print(f"# first red picture {elapsed:.1f} s after starting xfreerdp", flush=True)
        finally:
            stop(client)
        # Ended with the session.
        end_all(USER, "127.0.0.1")
        wait(lambda: not pids(USER, "xrdp-chansrv"), 20, "chansrv to end with the session")
        wait(lambda: not pids(USER, "Xorg"), 20, "Xorg to end with the session")

    def test_closing_the_client_disconnects_and_a_login_resumes(self):
        """rsm-scp never sees xrdp's own connection to xorgxrdp; the executor
        does ([display.xorg] client_socket): closing the RDP client makes
        the session disconnected, and the next login resumes it."""
        red = lambda s: colour_share(s, RED) > 0.3  # noqa: E731
        client = self.screen.xfreerdp(USER, USER + "-pw")
        try:
            self.screen.wait_for("the session's red xterm through xorgxrdp", red)
            sid, first = xrdp_sessions.the_session(USER)
            self.assertEqual(first["state"], "active")
            xorg = pids(USER, "Xorg")
        finally:
            stop(client)
        wait(lambda: xrdp_sessions.state(USER) == "disconnected", 30,
             f"{USER}'s code-20 session to be disconnected once the RDP client is gone")
        client = self.screen.xfreerdp(USER, USER + "-pw")
        try:
            self.screen.wait_for("the same red xterm after the reconnect", red)
            sid2, again = xrdp_sessions.the_session(USER)
            self.assertEqual(sid2, sid)
            self.assertEqual(again["state"], "active")
            self.assertEqual(pids(USER, "Xorg"), xorg)
        finally:
            stop(client)
        wait(lambda: xrdp_sessions.state(USER) == "disconnected", 30, "disconnected again")


if __name__ == "__main__":
    unittest.main()
