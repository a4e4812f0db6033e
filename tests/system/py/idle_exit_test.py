"""Exit on idle ([manager] idle_exit_sec = 3, [gateway] login_timeout = 8 in
the scenario's drop-in): the manager exits by itself once it has had
nothing to do for idle_exit_sec, cleanly (status 0, not restarted, the
journal says why), and the next gateway connection or org.rsm.Manager1 call
starts it again with nothing lost; a live session or an open connection
keeps it up. The tests run in order (their names sort that way) and each
begins with the manager gone or going."""

import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gw  # noqa: E402
import session_client as sc  # noqa: E402
import systest as st  # noqa: E402

SVC = "rsm-manager.service"
IDLE = 3           # idle_exit_sec of the drop-in
LOGIN_TIMEOUT = 8  # login_timeout of the drop-in
DROPIN = "/etc/rsm/rsm.toml.d/60-idle.toml"
# How long past the idle time an exit may take (the loop, systemd's
# bookkeeping, a loaded machine).
SLACK = 15


def active_state():
    return st.unit_prop(SVC, "ActiveState")


def invocation():
    return st.unit_prop(SVC, "InvocationID")


def wait_gone(what, timeout=IDLE + SLACK):
    """Waits until the service is inactive; returns the seconds waited."""
    t0 = time.monotonic()
    st.wait(lambda: active_state() == "inactive", timeout, f"{SVC} to exit on idle ({what})")
    return time.monotonic() - t0


def stays_up(seconds, what):
    """Fails if the service leaves "active" within `seconds` (a duration
    to check, not a synchronisation)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = active_state()
        if state != "active":
            raise AssertionError(f"{SVC} went {state} while {what}")
        time.sleep(0.2)


def journal_of(inv):
    return gw.journal("-q", "-o", "cat", f"_SYSTEMD_INVOCATION_ID={inv}")


def busctl_list_sessions():
    return st.run("busctl", "--system", "--timeout=30", "call", "org.rsm.Manager1", "/org/rsm/Manager1",
                  "org.rsm.Manager1", "ListSessions", timeout=60)


class IdleExitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # A manager that does not know [manager] (the baseline) would refuse
        # the drop-in and never start: then run without it, so that what
        # fails below is the missing exit, not the configuration. Run by
        # hand, the manager reads its configuration before it looks for
        # sockets, and says which it missed.
        exe = re.search(r"path=(\S+)", st.unit_prop(SVC, "ExecStart")).group(1)
        probe = st.run(exe, timeout=30)
        if "unknown section [manager]" in probe.stdout + probe.stderr:
            print("# this manager does not know [manager]; running without the drop-in", file=sys.stderr)
            os.unlink(DROPIN)
        if active_state() != "inactive":
            raise AssertionError(f"{SVC} runs before the first connection")

    def assert_clean_idle_exit(self, inv):
        """The invocation `inv` ended by exiting on idle: not a failure,
        not restarted, and the journal says why."""
        self.assertEqual(st.unit_prop(SVC, "Result"), "success")
        self.assertEqual(st.unit_prop(SVC, "ExecMainStatus"), "0")
        self.assertEqual(st.unit_prop(SVC, "NRestarts"), "0")
        self.assertEqual(st.unit_prop("rsm-manager.socket", "SubState"), "listening")
        text = journal_of(inv)
        self.assertIn(f"Exiting: idle for {IDLE} s", text)
        self.assertIn("no session, no gateway connection, nothing in flight", text)

    def test_1_exits_when_idle(self):
        g = st.login("alice", "192.0.2.1")
        inv = invocation()
        self.assertTrue(inv)
        g.Close()
        g.conn.close()
        waited = wait_gone("after one login and Close")
        # It waited out the idle time first (the connection's end was the
        # last activity).
        self.assertGreaterEqual(waited, IDLE - 0.5)
        self.assert_clean_idle_exit(inv)

    def test_2_connection_starts_it_again_and_login_works(self):
        wait_gone("before the test")
        old = invocation()
        g = st.login("alice", "192.0.2.2")
        self.assertEqual([str(x) for x in g.GetLoginState()][0::2], ["authenticated", "alice"])
        self.assertEqual(active_state(), "active")
        self.assertNotEqual(invocation(), old)
        g.Close()
        g.conn.close()

    def test_3_live_session_keeps_it_up_until_it_ends(self):
        wait_gone("before the test")
        g = st.login("alice", "192.0.2.3")
        sid, reused = sc.create_session(g, type="null", width=800, height=600, depth=24)
        self.assertFalse(reused)
        inv = invocation()
        g.Close()
        g.conn.close()
        # Disconnected, no connection: only the session is left, for well
        # past the idle time.
        stays_up(IDLE * 3, "a session was live")
        self.assertEqual(invocation(), inv)
        g = st.login("alice", "192.0.2.3")
        self.assertIn(sid, st.sessions(g))
        st.end_sessions(g, "alice")
        g.Close()
        g.conn.close()
        st.wait(lambda: st.scope_gone(sid), 30, "the session's scope to go")
        wait_gone("after the session ended")
        self.assert_clean_idle_exit(inv)
        self.assertIsNone(st.record(sid))

    def test_4_manager1_call_reactivates_it(self):
        wait_gone("before the test")
        old = invocation()
        r = busctl_list_sessions()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split()[:2], ["a(susssso)", "0"])
        self.assertEqual(active_state(), "active")
        inv = invocation()
        self.assertNotEqual(inv, old)
        # The bus name came back, and goes again with the manager.
        wait_gone("after a bus call")
        self.assert_clean_idle_exit(inv)
        # Released before the exit: a call now activates a new instance
        # instead of failing.
        r = busctl_list_sessions()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotEqual(invocation(), inv)

    def test_5_open_connection_keeps_it_up_until_the_login_deadline(self):
        wait_gone("before the test")
        conn = gw.connect()
        g = gw.gateway(conn)
        t0 = time.monotonic()
        self.assertEqual(str(g.GetLoginState()[0]), "unauthenticated")
        inv = invocation()
        # Unauthenticated and silent: still a connection.
        stays_up(LOGIN_TIMEOUT - 2, "an unauthenticated connection was open")
        # The login deadline closes it; then the idle time runs.
        gw.wait_journal("Closing a connection that used up its time to log in", "-q", "-o", "cat",
                        f"_SYSTEMD_INVOCATION_ID={inv}", timeout=SLACK)
        wait_gone("after the login deadline closed the connection")
        self.assertGreaterEqual(time.monotonic() - t0, LOGIN_TIMEOUT + IDLE - 1)
        self.assert_clean_idle_exit(inv)
        conn.close()


if __name__ == "__main__":
    unittest.main()
