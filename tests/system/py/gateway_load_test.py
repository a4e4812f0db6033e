"""The manager's loop never waits on PAM or on a slow client: with 20
wrong-password logins in flight (each held ~2 s by pam_unix's fail delay in a
separate rsm-session), a valid peer-credential login completes while those
are still pending. Set up by scenarios/gateway_load.sh."""

import json
import subprocess
import time
import unittest

import gw
from gw import E


def count_processes(name):
    r = subprocess.run(["pgrep", "-c", "-x", name], capture_output=True, text=True)
    return int(r.stdout.strip() or 0)


class InFlightTest(unittest.TestCase):
    def test_valid_login_completes_while_20_wrong_passwords_are_pending(self):
        wrong = [subprocess.Popen(
            ["busctl", "--address=" + gw.ADDRESS, "--timeout=60", "call", gw.GATEWAY, gw.GATEWAY_PATH, gw.GATEWAY,
             "LoginWithPassword", "ssa{sv}", "alice", "wrong-password", "1", "address", "s", f"198.51.100.{i}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(20)]
        try:
            # Readiness: every wrong login has its own executor running PAM.
            deadline = time.monotonic() + 30
            while count_processes("rsm-session") < 20 and time.monotonic() < deadline:
                time.sleep(0.02)
            self.assertGreaterEqual(count_processes("rsm-session"), 20)

            r = gw.as_user("alice", "g = gw.gateway()\nprint(json.dumps([str(x) for x in g.LoginWithCredentials()]))")
            still_pending = sum(1 for p in wrong if p.poll() is None)
            self.assertEqual(r[1], "alice")
            # The valid login did not queue behind the wrong ones.
            self.assertGreaterEqual(still_pending, 10, "valid login waited for the wrong-password logins")
        finally:
            outs = [p.communicate(timeout=90) for p in wrong]
        for out, err in outs:
            self.assertIn("Authentication failed", err)


class IdleConnectionsTest(unittest.TestCase):
    def test_500_idle_connections_then_a_password_login(self):
        import socket
        idle = []
        try:
            for _ in range(500):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(gw.SOCKET)
                idle.append(s)
            uid, user, _ = gw.gateway().LoginWithPassword("alice", "alice-pw", gw.client("203.0.113.1"),
                                                         timeout=30)
            self.assertEqual(str(user), "alice")
        finally:
            for s in idle:
                s.close()
        out = gw.wait_journal("dropping the oldest one of the peer holding most", "-t", "rsm-manager", "-b")
        self.assertIn("dropping the oldest one of the peer holding most", out)


class ManagerHealthTest(unittest.TestCase):
    def test_manager_never_restarted(self):
        show = subprocess.check_output(["systemctl", "show", "-p", "NRestarts,ActiveState", "rsm-manager.service"],
                                       text=True)
        self.assertIn("NRestarts=0", show)
        self.assertIn("ActiveState=active", show)
