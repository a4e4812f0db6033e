"""The real xrdp-sesadmin 0.9.21 (SCP v1 management) against rsm-scp: it
lists the caller's rsm sessions in sesman's format, a wrong password gets
its "connection denied" and it exits, and another user's sessions are not
shown. Sessions are made the way xrdp makes them (SCP v0, xrdp_scp)."""

import re
import struct
import time
import unittest

from systest import end_all, login, run, sessions
from xrdp_scp import exchange, scp_request

SESADMIN = "/usr/bin/xrdp-sesadmin"  # Debian's path (the package's only copy)
ADDR = "192.0.2.71"


def sesadmin(user, password, command="list"):
    """Runs sesadmin as `user` (any local account may); stdout+stderr text.
    The timeout is the "never hangs" check: sesadmin has none of its own."""
    r = run(SESADMIN, f"-u={user}", f"-p={password}", f"-c={command}", user=user, timeout=30)
    return r.returncode, r.stdout + r.stderr


def listed(output):
    """{Session ID: block of text} from sesadmin's list output."""
    out = {}
    for block in re.split(r"(?m)^(?=Session ID: )", output):
        m = re.match(r"Session ID: (-?\d+)\n", block)
        if m:
            out[int(m.group(1))] = block
    return out


def v1_id(rsm_id):
    # docs/xrdp.md: the first 7 hex digits of rsm's id, as sesadmin's number.
    return int(rsm_id[:7], 16)


def make_session(user):
    """A session for `user` through SCP v0 as xrdp asks for one; returns
    rsm's record of it (Gateway1.ListSessions)."""
    reply, _ = exchange(scp_request(user, user + "-pw", description=f"{ADDR}:50000 - socket: 12"), timeout=90)
    if len(reply) != 30 or struct.unpack(">HH", reply[8:12]) != (3, 1):
        log = run("journalctl", "-q", "-n", "30", "-o", "cat", "-u", "rsm-scp.service", "-u", "rsm-manager.service")
        raise AssertionError(f"SCP v0 for {user}: {reply.hex()}\n{log.stdout}")
    g = login(user, ADDR)
    try:
        mine = sessions(g)
    finally:
        g.Close()
    assert len(mine) == 1, mine
    return next(iter(mine.values()))


class SesadminTest(unittest.TestCase):
    def tearDown(self):
        end_all("alice", ADDR)
        end_all("bob", ADDR)

    def test_list_shows_the_callers_session(self):
        s = make_session("alice")
        rc, out = sesadmin("alice", "alice-pw")
        self.assertEqual(rc, 0, out)
        self.assertIn("connection ok", out)
        got = listed(out)
        self.assertEqual(list(got), [v1_id(s["id"])], out)
        block = got[v1_id(s["id"])]
        # xvnc is sesman's type 2; 1024x768 at depth 24 as xrdp asked.
        self.assertIn("Session type: 2\n", block)
        self.assertIn(f"Screen size: {s['width']}x{s['height']}, color depth {s['depth']}\n", block)
        self.assertEqual((s["width"], s["height"], s["depth"]), (1024, 768, 24))
        connected = time.strftime("%Y/%m/%d %H:%M", time.localtime(s["created_usec"] / 1e6))
        self.assertIn(f"Connected: {connected}\n", block)
        # User and display are not in sesadmin's format: the id is the link
        # to rsm's record (which has them).
        self.assertEqual(s["user"], "alice")
        self.assertTrue(s["display"].startswith(":"), s)

    def test_no_sessions(self):
        rc, out = sesadmin("alice", "alice-pw")
        self.assertEqual(rc, 0, out)
        self.assertIn("connection ok", out)
        self.assertIn("No sessions.", out)

    def test_wrong_password_is_denied_and_sesadmin_exits(self):
        s = make_session("alice")
        t0 = time.monotonic()
        rc, out = sesadmin("alice", "not-alice-pw")
        self.assertLess(time.monotonic() - t0, 15, out)
        self.assertIn("connection denied: Login failed", out)
        self.assertIn("Error getting session list.", out)
        self.assertNotIn("Session ID", out)
        self.assertNotIn(str(v1_id(s["id"])), out)
        self.assertEqual(rc, 0, out)  # sesadmin's own exit status for every outcome

    def test_other_users_sessions_are_not_shown(self):
        a = make_session("alice")
        b = make_session("bob")
        _, out_alice = sesadmin("alice", "alice-pw")
        _, out_bob = sesadmin("bob", "bob-pw")
        self.assertEqual(list(listed(out_alice)), [v1_id(a["id"])], out_alice)
        self.assertEqual(list(listed(out_bob)), [v1_id(b["id"])], out_bob)

    def test_kill_sends_nothing(self):
        # sesadmin 0.9.21's cmndKill() is empty: after the login it closes.
        # rsm-scp ends the conversation and the session lives on.
        s = make_session("alice")
        rc, out = sesadmin("alice", "alice-pw", f"kill:{v1_id(s['id'])}")
        self.assertEqual(rc, 0, out)
        self.assertIn("connection ok", out)
        self.assertEqual(list(listed(sesadmin("alice", "alice-pw")[1])), [v1_id(s["id"])])


if __name__ == "__main__":
    unittest.main()
