"""A manager that is away for a while never costs a user their desktop
(run by scenarios/outage.sh): a crash loop of 20 kill -9 in a row, with no
reset-failed in between, and the sockets stopped for a whole minute. Live
xvnc and xvfb sessions of two users must come back complete and connectable,
with the same processes."""

import os
import signal
import time
import unittest

import gw
import session_client as sc
from systest import login, pids, record, run, scope_state, sessions, unit_prop, wait

ADDR = "192.0.2.80"
SERVICE = "rsm-manager.service"
SOCKETS = ("rsm-manager.socket", "rsm-manager-executor.socket")


def manager_pid():
    return int(unit_prop(SERVICE, "MainPID") or 0)


def restarted(old_pid):
    return unit_prop(SERVICE, "ActiveState") == "active" and manager_pid() not in (0, old_pid)


class OutageTest(unittest.TestCase):
    """Each test starts sessions for alice and bob, does its outage, then
    checks every session through a fresh login of its owner."""

    def setUp(self):
        self.ids = {}
        for user in ("alice", "bob"):
            g = login(user, ADDR)
            self.ids[user] = (sc.create_session(g, type="xvnc", new=True)[0],
                              sc.create_session(g, type="xvfb", new=True)[0])
            g.Close()
        self.records = {sid: record(sid) for pair in self.ids.values() for sid in pair}
        self.states = {}
        for user in self.ids:
            g = login(user, ADDR)
            self.states.update({sid: s["state"] for sid, s in sessions(g).items()})
            g.Close()
        self.display_pids = {u: (pids(u, "Xvnc"), pids(u, "Xvfb")) for u in self.ids}

    def tearDown(self):
        run("systemctl", "start", *SOCKETS)
        for user, pair in self.ids.items():
            try:
                g = login(user, ADDR)
                for sid in pair:
                    g.TerminateSession(sid, timeout=30)
            except Exception:  # noqa: BLE001 - best effort; the next test starts fresh
                pass
        for sid in (s for pair in self.ids.values() for s in pair):
            wait(lambda: scope_state(sid) in ("inactive", "failed", ""), 30, f"scope of {sid} to go")

    def assert_all_back(self, timeout):
        """Every session listed by its owner's new login, complete, with the
        same executor, leader and display server, and connectable."""
        for user, (xvnc_sid, xvfb_sid) in self.ids.items():
            g = login(user, ADDR)
            listed = wait(lambda: (lambda s: s if {xvnc_sid, xvfb_sid} <= set(s) else None)(sessions(g)),
                          timeout, f"{user}'s sessions listed again")
            for sid in (xvnc_sid, xvfb_sid):
                self.assertEqual(listed[sid]["state"], self.states[sid], sid)
                rec = wait(lambda: (lambda r: r if r and r.get("COMPLETE") == "1" else None)(record(sid)),
                           timeout, f"the full record of {sid}")
                for key in ("EXECUTOR_PID", "LEADER_PID", "DISPLAY", "CREATED_USEC"):
                    self.assertEqual(rec[key], self.records[sid][key], f"{sid} {key}")
            self.assertEqual((pids(user, "Xvnc"), pids(user, "Xvfb")), self.display_pids[user],
                             f"{user}'s display servers kept running")
            fds, _ = sc.connect_session(g, xvnc_sid)
            self.assertEqual(sc.rfb_handshake(fds["display"])[:2], (1024, 768))
            for f in fds.values():
                f.close()
            fds, details = sc.connect_session(g, xvfb_sid)
            sc.x11_handshake(fds["display"], details["xauth_name"], details["xauth_data"])
            for f in fds.values():
                f.close()
            g.Close()

    def test_twenty_kill_9_in_a_row_lose_nothing(self):
        since = f"@{int(time.time()) - 1}"
        for i in range(20):
            old = wait(lambda: manager_pid() if unit_prop(SERVICE, "ActiveState") == "active" else 0, 30,
                       f"a running manager before kill {i + 1}")
            os.kill(old, signal.SIGKILL)
            wait(lambda: restarted(old), 30, f"the manager to restart after kill {i + 1} of 20")
        for unit in (SERVICE, *SOCKETS):
            self.assertEqual(unit_prop(unit, "ActiveState"), "active",
                             unit + ":\n" + gw.journal("-u", unit, "-n", "20", "-o", "short-precise"))
        self.assertNotIn("start-limit-hit", gw.journal("--since", since, "-o", "cat"))
        self.assert_all_back(30)

    def test_sockets_stopped_for_a_minute_lose_nothing(self):
        since = f"@{int(time.time()) - 1}"
        r = run("systemctl", "stop", *SOCKETS, SERVICE)
        self.assertEqual(r.returncode, 0, r.stderr)
        # The outage itself: a minute in which no manager can be reached. The
        # executors keep their sessions and keep trying.
        time.sleep(60)
        for pair in self.ids.values():
            for sid in pair:
                self.assertEqual(scope_state(sid), "active", f"{sid} survived the outage")
        self.assertTrue(gw.wait_journal("keeping the session and trying again until one does", "--since", since,
                                        "-o", "cat"))
        self.assertEqual(unit_prop(SERVICE, "ActiveState"), "inactive", "nothing started the manager meanwhile")
        r = run("systemctl", "start", *SOCKETS)
        self.assertEqual(r.returncode, 0, r.stderr)
        # The executors retry at most 5 s apart; the announce starts the manager.
        self.assert_all_back(20)


if __name__ == "__main__":
    unittest.main()
