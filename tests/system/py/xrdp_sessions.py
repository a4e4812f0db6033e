"""What an xrdp user gains from rsm, with the real xrdp 0.9.21 and xfreerdp:
closing the client and connecting again lands in the same session (its
reconnect script runs), logind knows the session as remote with the RDP
client's address, a kill -9 of rsm-manager leaves the picture updating, and
ten users logging in at once all get their desktops."""

import os
import signal
import threading
import unittest

import systest
from rdp_client import RED, ClientScreen, colour_share, diagnostics, stop, wait_xrdp_listening
from systest import end_all, run, wait

DROPIN = "/etc/rsm/rsm.toml.d/60-xrdp-sessions.toml"
RECONNECT_SCRIPT = "/usr/local/bin/rsm-systest-reconnected"


def the_session(user):
    """(id, session dict) of the user's only session, or None."""
    g = systest.login(user, "127.0.0.1")
    try:
        s = systest.sessions(g)
    finally:
        g.Close()
    if len(s) != 1:
        return None
    return next(iter(s.items()))


def state(user):
    s = the_session(user)
    return s[1]["state"] if s else None


def reconnect_count(user):
    try:
        with open(f"/home/{user}/.rsm-reconnected") as f:
            return len(f.read().split())
    except FileNotFoundError:
        return 0


class XrdpSessionTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        with open(RECONNECT_SCRIPT, "w") as f:
            f.write('#!/bin/sh\necho "$DISPLAY" >>"$HOME/.rsm-reconnected"\n')
        os.chmod(RECONNECT_SCRIPT, 0o755)
        systest.write_dropin(DROPIN, f'[session]\nreconnect_script = "{RECONNECT_SCRIPT}"\n')
        systest.restart_manager()
        cls.screen = ClientScreen(":72").__enter__()
        wait_xrdp_listening()

    @classmethod
    def tearDownClass(cls):
        cls.screen.__exit__(None, None, None)
        systest.write_dropin(DROPIN, None)
        systest.restart_manager()

    def tearDown(self):
        end_all("carol", "127.0.0.1")

    def desktop(self, screen, user="carol", timeout=90):
        """Starts xfreerdp for user and waits for the red xterm; the Popen."""
        client = screen.xfreerdp(user, user + "-pw")
        try:
            wait(lambda: (lambda s: s and colour_share(s, RED) > 0.3)(screen.screenshot()), timeout,
                 f"{user}'s red xterm in the RDP client's window")
        except AssertionError as e:
            stop(client)
            raise AssertionError(f"{e}\n{diagnostics()}") from None
        return client

    def test_reconnect_lands_in_the_same_session(self):
        client = self.desktop(self.screen)
        sid, first = the_session("carol")
        xvnc = systest.pids("carol", "Xvnc")
        self.assertEqual(len(xvnc), 1)
        self.assertEqual(first["state"], "active")
        runs = reconnect_count("carol")  # other tests reconnect carol too
        # logind: one remote session with the RDP client's address (xrdp's
        # "127.0.0.1:PORT - socket: N", as rsm-scp passes it on).
        ls = run("loginctl", "list-sessions", "--no-legend").stdout.split("\n")
        ids = [line.split()[0] for line in ls if " carol " in f" {line} "]
        self.assertEqual(len(ids), 1, ls)
        props = run("loginctl", "show-session", ids[0], "-p", "Remote", "-p", "RemoteHost").stdout.split()
        self.assertEqual(sorted(props), ["Remote=yes", "RemoteHost=127.0.0.1"])

        stop(client)  # xrdp's display connection goes: the session is disconnected
        wait(lambda: state("carol") == "disconnected", 30, "carol's session to be disconnected")
        client = self.desktop(self.screen)
        try:
            sid2, again = the_session("carol")
            self.assertEqual(sid2, sid)
            self.assertEqual(again["state"], "active")
            self.assertEqual(systest.pids("carol", "Xvnc"), xvnc)
            wait(lambda: reconnect_count("carol") == runs + 1, 30, "the reconnect script to run")
        finally:
            stop(client)

    def test_picture_keeps_updating_through_a_manager_crash(self):
        client = self.desktop(self.screen)
        try:
            sid, _ = the_session("carol")
            pid = int(systest.unit_prop("rsm-manager.service", "MainPID"))
            self.assertGreater(pid, 0)
            os.kill(pid, signal.SIGKILL)
            # The clock's second hand moves: two screenshots differ, while
            # the xterm is still there. (rsm-scp's relay talks to Xvnc
            # directly; the manager is not on the picture's path.)
            first = self.screen.screenshot()
            wait(lambda: (lambda s: s and s != first and colour_share(s, RED) > 0.3)(self.screen.screenshot()),
                 10, "the picture to change after the kill")
            wait(lambda: systest.ping() < 5, 30, "the manager back")
        finally:
            stop(client)
        wait(lambda: state("carol") == "disconnected", 30, "carol's session to be disconnected")
        client = self.desktop(self.screen)
        try:
            self.assertEqual(the_session("carol")[0], sid)
        finally:
            stop(client)


class TenUsersTest(unittest.TestCase):
    USERS = [f"rdp{i:02d}" for i in range(1, 11)]

    @classmethod
    def setUpClass(cls):
        wait_xrdp_listening()

    def tearDown(self):
        for u in self.USERS:
            end_all(u, "127.0.0.1")

    def test_ten_users_at_once(self):
        # One client screen per user (a screenshot shows one client each),
        # all clients started together.
        screens = [ClientScreen(f":{80 + i}", "800x600x24").__enter__() for i in range(len(self.USERS))]
        clients = []
        try:
            for u, s in zip(self.USERS, screens):
                clients.append(s.xfreerdp(u, u + "-pw", size="640x480"))
            missing = set(self.USERS)

            def seen():
                for u, s in zip(self.USERS, screens):
                    if u in missing:
                        shot = s.screenshot()
                        if shot and colour_share(shot, RED) > 0.2:
                            missing.discard(u)
                return not missing

            try:
                wait(seen, 180, "every user's red xterm")
            except AssertionError as e:
                raise AssertionError(f"{e}: missing {sorted(missing)}\n{diagnostics()}") from None
            for u in self.USERS:
                self.assertIsNotNone(the_session(u), u)
        finally:
            threads = [threading.Thread(target=stop, args=(c,)) for c in clients]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for s in screens:
                s.__exit__(None, None, None)


if __name__ == "__main__":
    unittest.main()
