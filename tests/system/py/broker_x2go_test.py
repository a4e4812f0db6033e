"""A broker selection leads to a real X2Go session (scenarios/broker_x2go.sh,
issue #14). rsm-broker offers alice the profile `x2go` (a dead server, then
the real sshd + x2goserver on 127.0.0.1:22470); the real pyhoca-cli logs in
to the broker with `--broker-url http://alice@127.0.0.1:8080/json/`, takes
the server the broker selected, logs in there over SSH with alice's password
and starts the profile's command: its green xterm appears on the client's
Xvfb through nxproxy, and x2goserver's own x2golistsessions shows the
session running. Ctrl+C in pyhoca-cli suspends it (x2golistsessions: S); a
second pyhoca-cli, sent by a second selectsession to the same server,
resumes the same session, and the xterm is back on a new screen."""

import os
import pwd
import shutil
import signal
import subprocess
import unittest

from nx_test import free_display
from rdp_client import ClientScreen, colour_share
from systest import run, wait

BROKER = "http://alice@127.0.0.1:8080/json/"
GREEN = (0, 255, 0)
ARTIFACTS = "/var/lib/rsm-systest"
HOME = "/root/pyhoca-home"


def journal(*args):
    return run("journalctl", "--no-pager", "-o", "cat", *args).stdout


def selections():
    """How often rsm-broker selected the real X2Go server for alice's profile."""
    return journal("-t", "rsm-broker", "-o", "verbose", "MESSAGE=Server selected",
                   "RSM_BROKER_PROFILE=x2go").count("RSM_BROKER_HOST=127.0.0.1")


def x2go_sessions():
    """alice's sessions as x2goserver records them: x2golistsessions run as
    alice (through x2goserver's setgid SQLite wrapper), one dict per line."""
    out = run("runuser", "-u", "alice", "--", "x2golistsessions")
    fields = ("pid", "name", "display", "server", "status", "created", "cookie", "client", "gr_port",
              "snd_port", "last", "user", "age", "fs_port")
    return out.stdout, [dict(zip(fields, line.split("|"))) for line in out.stdout.splitlines() if "|" in line]


def pyhoca(display, log_path, *extra):
    """The real pyhoca-cli for profile x2go through the broker, on `display`,
    non-interactive: the SSH password on the command line, the server's host
    key accepted and remembered (--add-to-known-hosts), no stdin."""
    env = dict(os.environ, DISPLAY=display, HOME=HOME)
    log = open(log_path, "w")
    return subprocess.Popen(["pyhoca-cli", "--broker-url", BROKER, "--broker-password", "alice-pw", "-P", "x2go",
                             "--password", "alice-pw", "--add-to-known-hosts", *extra],
                            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


def diagnose(log_path):
    def text():
        with open(log_path, errors="replace") as f:
            client = f.read()[-3000:]
        return (f"--- pyhoca-cli\n{client}\n--- x2golistsessions\n{x2go_sessions()[0]}\n--- rsm-broker\n"
                + journal("-t", "rsm-broker", "-n", "15") + "\n--- sshd\n" + journal("-u", "x2go-sshd", "-n", "15"))
    return text


def green(client, log_path):
    """The check for ClientScreen.wait_for: the xterm's green covers half the
    screen; fails at once when pyhoca-cli has given up."""
    def check(shot):
        if client.poll() is not None:
            raise AssertionError(f"pyhoca-cli exited with {client.returncode}\n" + diagnose(log_path)())
        return colour_share(shot, GREEN) > 0.5
    return check


class BrokerX2Go(unittest.TestCase):
    session = None  # test_01's session (a dict of x2golistsessions' fields), suspended

    @classmethod
    def setUpClass(cls):
        shutil.rmtree(HOME, ignore_errors=True)
        os.makedirs(HOME)

    def test_01_new_session_then_suspend(self):
        before = selections()
        log1 = "/tmp/pyhoca-new.log"
        with ClientScreen(free_display()) as screen:
            client = pyhoca(screen.display, log1)
            try:
                screen.wait_for("the session's green xterm on the client's screen", green(client, log1), 120,
                                diagnose(log1))
                run("import", "-display", screen.display, "-window", "root", f"{ARTIFACTS}/broker-x2go-new.png")
                # The broker selected the real server (the first one is down) ...
                self.assertEqual(selections(), before + 1, diagnose(log1)())
                self.assertIn("X2Go server's SSH port does not answer", journal("-t", "rsm-broker"))
                # ... and pyhoca-cli logged in there as alice with her password.
                self.assertIn("Accepted password for alice from 127.0.0.1", journal("-u", "x2go-sshd"))
                with open(log1) as f:
                    self.assertIn("connecting to [127.0.0.1]:22470", f.read())
                raw, listed = x2go_sessions()
                with open(f"{ARTIFACTS}/broker-x2go-sessions-running.txt", "w") as f:
                    f.write(raw)
                self.assertEqual(len(listed), 1, raw)
                session = listed[0]
                self.assertEqual((session["user"], session["status"], session["client"]), ("alice", "R", "127.0.0.1"),
                                 raw)
                self.assertIn("green-xterm", session["name"])
                # x2goagent (nxagent) runs as alice, the xterm inside it.
                with open(f"/proc/{session['pid']}/cmdline") as f:
                    argv = f.read().split("\0")
                self.assertEqual(argv[0], "x2goagent")
                self.assertIn(f"X2GO-{session['name']}", argv)
                self.assertEqual(os.stat(f"/proc/{session['pid']}").st_uid, pwd.getpwnam("alice").pw_uid)
                # Ctrl+C in pyhoca-cli suspends the session and ends the client.
                client.send_signal(signal.SIGINT)
                self.assertEqual(client.wait(timeout=60), 0, diagnose(log1)())
            finally:
                if client.poll() is None:
                    client.kill()
                    client.wait()
        BrokerX2Go.session = session
        raw, listed = wait(lambda: (lambda r: r if [s["status"] for s in r[1]] == ["S"] else None)(x2go_sessions()),
                           30, "the session suspended in x2golistsessions")
        with open(f"{ARTIFACTS}/broker-x2go-sessions-suspended.txt", "w") as f:
            f.write(raw)
        self.assertEqual(listed[0]["name"], session["name"])

    def test_02_select_again_resumes(self):
        """Selecting the profile again: the broker sends the client to the
        same server, and pyhoca-cli resumes the suspended session there."""
        session = self.session
        self.assertIsNotNone(session, "test_01 left no suspended session")
        before = selections()
        log2 = "/tmp/pyhoca-resume.log"
        with ClientScreen(free_display()) as screen:
            client = pyhoca(screen.display, log2, "-R", "NEWEST")
            try:
                screen.wait_for("the resumed session's green xterm", green(client, log2), 120, diagnose(log2))
                run("import", "-display", screen.display, "-window", "root", f"{ARTIFACTS}/broker-x2go-resumed.png")
                self.assertEqual(selections(), before + 1, diagnose(log2)())
                raw, listed = x2go_sessions()
                with open(f"{ARTIFACTS}/broker-x2go-sessions-resumed.txt", "w") as f:
                    f.write(raw)
                self.assertEqual([(s["name"], s["status"]) for s in listed], [(session["name"], "R")], raw)
                self.assertEqual(listed[0]["pid"], session["pid"])
            finally:
                client.kill()
                client.wait()
        # End it, as alice would with x2goterminate-session.
        run("runuser", "-u", "alice", "--", "x2goterminate-session", session["name"])
        wait(lambda: not x2go_sessions()[1], 30, "the session gone from x2golistsessions")


if __name__ == "__main__":
    unittest.main()
